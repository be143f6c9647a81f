"""Reporting: publication tables, figures, the HTML report and the methods paragraph.

Tables are numeric DataFrames in the form of the seed study's Tables 1 and 2
(:func:`demographics_table`, :func:`clinical_table`); :func:`format_table` gives
their printed strings, :func:`format_frame` the printed strings of any result
frame (APA p values, integers as integers), :func:`export_table` writes a table
as TSV, CSV, Markdown and LaTeX. Figures are sized for a journal page and written
as 300 dpi PNG, SVG and PDF by :func:`save_figure`; brain figures choose their
slices inside the brain (:func:`choose_cuts`). :func:`tissue_at` and
:func:`flag_clusters` check where cluster peaks lie; :func:`describe_rois` gives
each ROI's size on the analysis grid.
"""

from painmarkers.reporting.anatomy import describe_rois, flag_clusters, tissue_at
from painmarkers.reporting.brain import (
    choose_cuts,
    colorbar_label,
    plot_glass_brain,
    plot_group_mean_maps,
    plot_stat_map,
)
from painmarkers.reporting.figures import (
    FIGURE_FORMATS,
    FIGURE_WIDTH_IN,
    figure_bytes,
    save_figure,
)
from painmarkers.reporting.formatting import (
    column_kind,
    export_table,
    format_frame,
    format_number,
    format_p,
    to_latex,
    to_markdown,
)
from painmarkers.reporting.methods import REFERENCES, methods_text
from painmarkers.reporting.plots import (
    correlation_caption,
    plot_alff_spectrum,
    plot_correlation,
    plot_group_values,
    residualise,
)
from painmarkers.reporting.report import HTMLReport, write_atomic
from painmarkers.reporting.tables import clinical_table, demographics_table, format_table

__all__ = [
    "FIGURE_FORMATS",
    "FIGURE_WIDTH_IN",
    "REFERENCES",
    "HTMLReport",
    "choose_cuts",
    "clinical_table",
    "colorbar_label",
    "column_kind",
    "correlation_caption",
    "demographics_table",
    "describe_rois",
    "export_table",
    "figure_bytes",
    "flag_clusters",
    "format_frame",
    "format_number",
    "format_p",
    "format_table",
    "methods_text",
    "plot_alff_spectrum",
    "plot_correlation",
    "plot_glass_brain",
    "plot_group_mean_maps",
    "plot_group_values",
    "plot_stat_map",
    "residualise",
    "save_figure",
    "tissue_at",
    "to_latex",
    "to_markdown",
    "write_atomic",
]
