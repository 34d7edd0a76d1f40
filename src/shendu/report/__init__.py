"""Reports: plots (and, later, the HTML report comparing runs)."""

from shendu.report.plots import plot_confusion_matrix, plot_history

__all__ = ["plot_confusion_matrix", "plot_history"]
