"""Free text that leaves the library (warning and error messages shown in a report) passes this gate."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ipf_eval._defaults import keyword_options
from ipf_eval.disclosure.checks import scan_html
from ipf_eval.disclosure.identifiers import IdentifierSet, scrub_identifiers

__all__ = ["WITHHELD_MESSAGE", "publishable_text"]

#: What replaces a message that quotes a small number of firms.
WITHHELD_MESSAGE = "a message was withheld by disclosure control because it quotes a small number of firms"


@keyword_options
def publishable_text(text: str, *, profile: str = "research_data_centre",
                     identifiers: Iterable[Any] | IdentifierSet | None = None) -> str:
    """Return ``text`` if it quotes no small number of firms under ``profile``, else a withheld notice.

    Parameters
    ----------
    text
        A message meant for a report (a warning, an error).
    profile
        The disclosure profile whose minimum cell size defines a small count; the strictest profile
        (``research_data_centre``) by default, because a message may be shown under any profile.
    identifiers
        Firm identifiers of the data (or an :class:`~ipf_eval.disclosure.identifiers.IdentifierSet` of
        them): each one in ``text`` is replaced by ``"[withheld]"`` first, under the rule of
        :mod:`ipf_eval.disclosure.identifiers`.  ``None``: no identifier is scrubbed.

    Returns
    -------
    str
        ``text`` (with identifiers scrubbed), or :data:`WITHHELD_MESSAGE`.

    Examples
    --------
    >>> publishable_text("firm FIRM-00042 was dropped", identifiers=["FIRM-00042"])
    'firm [withheld] was dropped'
    >>> publishable_text("2 firms lack an outcome") == WITHHELD_MESSAGE
    True
    """
    if identifiers is not None:
        text = scrub_identifiers(text, identifiers)
    return text if scan_html(text, profile=profile).clean else WITHHELD_MESSAGE
