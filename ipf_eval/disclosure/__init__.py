"""Statistical disclosure control: named profiles, table suppression, checks on outputs and an audit log."""

from ipf_eval.disclosure.audit import STATUSES, AuditEntry, AuditLog, combine_audits
from ipf_eval.disclosure.cells import RuleFailure, primary_failures
from ipf_eval.disclosure.checks import (
    DEFAULT_COUNT_COLUMNS,
    ScanReport,
    check_figure_data,
    check_result,
    check_table,
    scan_html,
)
from ipf_eval.disclosure.profiles import PROFILES, DisclosureProfile, get_profile, list_profiles
from ipf_eval.disclosure.tables import ProtectedTable, protect_table, recoverable_cells
from ipf_eval.disclosure.text import WITHHELD_MESSAGE, publishable_text
from ipf_eval.errors import DisclosureError, DisclosureWarning

__all__ = [
    "DEFAULT_COUNT_COLUMNS",
    "PROFILES",
    "STATUSES",
    "WITHHELD_MESSAGE",
    "AuditEntry",
    "AuditLog",
    "DisclosureError",
    "DisclosureProfile",
    "DisclosureWarning",
    "ProtectedTable",
    "RuleFailure",
    "ScanReport",
    "check_figure_data",
    "check_result",
    "check_table",
    "combine_audits",
    "get_profile",
    "list_profiles",
    "primary_failures",
    "protect_table",
    "publishable_text",
    "recoverable_cells",
    "scan_html",
]
