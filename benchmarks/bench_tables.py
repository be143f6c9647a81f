"""Benchmark of table parsing: building a Cohort from participant, score and measure tables.

Run from the repository root (under a minute)::

    python benchmarks/bench_tables.py
    python benchmarks/bench_tables.py --subjects 150 --sessions 2 --rois 116 --features 4

Input: generated tables of S subjects x K sessions: ``participants`` (id, group, age,
sex), wide ``scores`` (VAS, RMDQ per session) and long ``measures`` (one row per
subject, session, ROI and feature; the defaults give 150 x 2 x 116 AAL-sized ROIs x 4
features = 139 200 rows, the size of the cohort in issue 10). Timed:

* ``Cohort.from_frames(participants, scores, measures)``;
* ``cohort.with_measures(measures)`` on the cohort built without measures;
* ``Cohort.to_frame()`` and ``Cohort.wide()`` of the full cohort.

Timings are the median of ``--repeats`` runs after one warm-up. The script prints a
Markdown table for benchmarks/README.md and a checksum of the parsed measures (sum and
count of the measure values, their subject/session/ROI keys), which must not change
between versions of the parser.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import statistics
import time

import numpy as np
import pandas as pd

from painmarkers import Cohort


def make_tables(n_subjects: int, n_sessions: int, n_rois: int, n_features: int, seed: int = 0):
    """Participants, wide scores and long measures of a generated cohort."""
    rng = np.random.default_rng(seed)
    ids = [f"sub-{i:03d}" for i in range(n_subjects)]
    participants = pd.DataFrame({
        "participant_id": ids,
        "group": np.where(np.arange(n_subjects) % 2 == 0, "CLBP", "HC"),
        "age": rng.integers(20, 70, n_subjects),
        "sex": rng.choice(["F", "M"], n_subjects),
    })
    sessions = [f"ses-{k}" for k in ("pre", "post", "fu1", "fu2", "fu3")[:n_sessions]]
    pid = np.repeat(ids, n_sessions)
    ses = np.tile(sessions, n_subjects)
    scores = pd.DataFrame({"participant_id": pid, "session_id": ses,
                           "vas": rng.uniform(0, 10, len(pid)).round(1),
                           "rmdq": rng.integers(0, 25, len(pid))})
    rois = [f"ROI{r:03d}" for r in range(n_rois)]
    features = ["alff", "falff", "fc_z", "qsm"][:n_features]
    n_per_session = n_rois * n_features
    measures = pd.DataFrame({
        "participant_id": np.repeat(pid, n_per_session),
        "session_id": np.repeat(ses, n_per_session),
        "roi": np.tile(np.repeat(rois, n_features), len(pid)),
        "feature": np.tile(features, len(pid) * n_rois),
        "value": rng.normal(1.0, 0.2, len(pid) * n_per_session),
        "extractor": "ALFF(band=(0.01, 0.08))",
    })
    return participants, scores, measures


def _median(fn, repeats):
    out = fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def checksum(cohort: Cohort) -> str:
    """Digest of the measures of a cohort (independent of the order of the records)."""
    rows = sorted((sub.id, ses.label, m.feature, m.roi, round(m.value, 12))
                  for sub, ses in cohort.iter_sessions() for m in ses.measures)
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:16]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=150)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--rois", type=int, default=116)
    ap.add_argument("--features", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    participants, scores, measures = make_tables(args.subjects, args.sessions, args.rois,
                                                 args.features)
    t_build, cohort = _median(lambda: Cohort.from_frames(participants, scores, measures),
                              args.repeats)
    bare = Cohort.from_frames(participants, scores)
    t_with, with_m = _median(lambda: bare.with_measures(measures), args.repeats)
    t_tidy, _ = _median(cohort.to_frame, args.repeats)
    t_wide, _ = _median(cohort.wide, args.repeats)
    assert checksum(cohort) == checksum(with_m)

    print(f"Python {platform.python_version()}, pandas {pd.__version__}, "
          f"numpy {np.__version__}; {len(measures)} measure rows, {len(scores)} score rows, "
          f"{len(participants)} subjects; median of {args.repeats}")
    print(f"measures checksum: {checksum(cohort)}  "
          f"(sum {sum(m.value for _, s in cohort.iter_sessions() for m in s.measures):.6f})")
    print()
    print("| step | time (s) |")
    print("|---|---:|")
    print(f"| `Cohort.from_frames(participants, scores, measures)` | {t_build:.3f} |")
    print(f"| `cohort.with_measures(measures)` | {t_with:.3f} |")
    print(f"| `cohort.to_frame()` | {t_tidy:.3f} |")
    print(f"| `cohort.wide()` | {t_wide:.3f} |")


if __name__ == "__main__":
    main()
