"""Free text that leaves the library (warning and error messages shown in a report) passes this gate."""

from __future__ import annotations

from ipf_eval.disclosure.checks import scan_html

__all__ = ["WITHHELD_MESSAGE", "publishable_text"]

#: What replaces a message that quotes a small number of firms.
WITHHELD_MESSAGE = "a message was withheld by disclosure control because it quotes a small number of firms"


def publishable_text(text: str, *, profile: str = "research_data_centre") -> str:
    """Return ``text`` if it quotes no small number of firms under ``profile``, else a withheld notice.

    Parameters
    ----------
    text
        A message meant for a report (a warning, an error).
    profile
        The disclosure profile whose minimum cell size defines a small count; the strictest profile
        (``research_data_centre``) by default, because a message may be shown under any profile.

    Returns
    -------
    str
        ``text`` unchanged, or :data:`WITHHELD_MESSAGE`.
    """
    return text if scan_html(text, profile=profile).clean else WITHHELD_MESSAGE
