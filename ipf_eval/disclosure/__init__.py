"""Statistical disclosure control: named profiles, table suppression, checks on outputs and an audit log.

Firm identifiers in free text: :mod:`ipf_eval.disclosure.identifiers` finds and scrubs them, and
:mod:`ipf_eval.disclosure.local_log` keeps the firms behind a data message on this machine.
"""

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
from ipf_eval.disclosure.identifiers import (
    IdentifierSet,
    identifier_set,
    run_identifiers,
    scan_identifiers,
    scrub_identifiers,
)
from ipf_eval.disclosure.local_log import local_log_path, record_details
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
    "IdentifierSet",
    "ProtectedTable",
    "RuleFailure",
    "ScanReport",
    "check_figure_data",
    "check_result",
    "check_table",
    "combine_audits",
    "get_profile",
    "identifier_set",
    "list_profiles",
    "local_log_path",
    "primary_failures",
    "protect_table",
    "publishable_text",
    "record_details",
    "recoverable_cells",
    "run_identifiers",
    "scan_html",
    "scan_identifiers",
    "scrub_identifiers",
]
