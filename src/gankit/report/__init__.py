"""Run reports: sample grids, training curves and the self-contained HTML run page."""

from gankit.report.curves import plot_curves, read_metrics
from gankit.report.grid import make_grid, save_grid
from gankit.report.html import write_report

__all__ = ["make_grid", "plot_curves", "read_metrics", "save_grid", "write_report"]
