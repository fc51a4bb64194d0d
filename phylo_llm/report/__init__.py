"""The one-command report: tree, figures, tables and an index page in one folder."""

from ._report import (
    Progress,
    Report,
    make_report,
)

__all__ = [
    "Progress",
    "Report",
    "make_report",
]
