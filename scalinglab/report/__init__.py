"""Figures (matplotlib) and the one-page HTML report: what to scale, what it will buy, and how far to trust it.

- ``write_report(runs_or_ladder_dir, "report.html")``: the page, ``report.json`` and ``report_figures/``.
- ``make_report(...)`` → ``ReportData`` (every number), ``report_figures(data)`` → the figures.
- ``scalinglab.report.figures``: each figure as a function of result objects, for notebooks.
"""

from scalinglab.report.analysis import ReportData, ReportOptions, analyse
from scalinglab.report.build import ReportFiles, make_report, report_figures, write_data, write_report
from scalinglab.report.sources import ReportInput, load_input

__all__ = ["write_report", "write_data", "make_report", "report_figures", "analyse", "load_input", "ReportData",
           "ReportOptions", "ReportInput", "ReportFiles"]
