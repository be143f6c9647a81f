# Paired DeLong tests of two ROC AUCs with R pROC, for tests/prediction/test_compare.py.
#
# Run from the repository root:
#   Rscript tests/prediction/data/delong_proc/make_fixture.R tests/prediction/data/delong_proc
# Writes cases.csv (case, y, a, b: one row per subject) and proc_results.csv (one row per
# case and alternative: the AUCs, z, p and the interval of the difference).
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "."
set.seed(20240611)

make_case <- function(id, n_pos, n_neg, shift_a, shift_b, rho, round_to = NA) {
  y <- c(rep(1, n_pos), rep(0, n_neg))
  z1 <- rnorm(n_pos + n_neg)
  z2 <- rho * z1 + sqrt(1 - rho^2) * rnorm(n_pos + n_neg)
  a <- z1 + shift_a * y
  b <- z2 + shift_b * y
  if (!is.na(round_to)) { a <- round(a, round_to); b <- round(b, round_to) }  # ties
  data.frame(case = id, y = y, a = a, b = b)
}

cases <- rbind(
  make_case(1, 30, 30, 1.0, 0.5, 0.5),
  make_case(2, 12, 25, 1.5, 1.4, 0.8),
  make_case(3, 40, 15, 0.3, 0.8, 0.2),
  make_case(4, 20, 20, 1.0, 1.0, 0.0, round_to = 0),   # many ties
  make_case(5, 8, 9, 2.0, 0.2, 0.6),
  make_case(6, 60, 45, 0.7, 0.6, 0.9, round_to = 1)
)

rows <- list()
for (id in unique(cases$case)) {
  d <- cases[cases$case == id, ]
  ra <- roc(d$y, d$a, levels = c(0, 1), direction = "<", quiet = TRUE)
  rb <- roc(d$y, d$b, levels = c(0, 1), direction = "<", quiet = TRUE)
  for (alt in c("two.sided", "greater", "less")) {
    t <- roc.test(ra, rb, method = "delong", paired = TRUE, alternative = alt)
    ci <- if (!is.null(t$conf.int)) t$conf.int else c(NA, NA)
    rows[[length(rows) + 1]] <- data.frame(
      case = id, alternative = alt, auc_a = as.numeric(auc(ra)), auc_b = as.numeric(auc(rb)),
      z = unname(t$statistic), p = t$p.value, ci_low = ci[1], ci_high = ci[2])
  }
}
results <- do.call(rbind, rows)
write.csv(format(cases, digits = 17), file.path(out, "cases.csv"), row.names = FALSE, quote = FALSE)
write.csv(format(results, digits = 17), file.path(out, "proc_results.csv"), row.names = FALSE,
          quote = FALSE)
cat("pROC", as.character(packageVersion("pROC")), R.version.string, "\n")
