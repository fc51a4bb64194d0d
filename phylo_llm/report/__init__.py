"""The one-command report: tree, figures, tables and an index page in one folder.
"""
from ._report import (
    Report,
    make_report,
    Progress,
)

__all__ = [
    "Progress",
    "Report",
    "make_report",
]
