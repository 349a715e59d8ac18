"""What a report notebook displays: tables with their source line, notes, text, and numbered captions.

The notebooks call these instead of defining helpers of their own.  Every object renders as HTML or
Markdown in Jupyter and has a deterministic plain-text form (nbval compares both), and every string that
comes from data or parameter files is escaped.

:func:`setup_notebook` prepares a kernel for a report (fixed figure size and resolution, warnings shown as
notes with disclosure control applied) and returns the :class:`NotebookReport` that numbers the figures.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipf_eval.disclosure import publishable_text

__all__ = ["NOTE_LIMIT", "NotebookReport", "Notes", "Table", "Text", "setup_notebook", "show"]

#: Distinct notes shown per step before the rest are summarised.
NOTE_LIMIT = 6


def _float(v: float) -> str:
    return f"{v:,.3f}"


@dataclass(frozen=True, eq=False)
class Table:
    """A table with the source line every published table carries."""

    frame: pd.DataFrame
    source: str

    def _repr_html_(self) -> str:
        body = self.frame.to_html(index=False, na_rep="", float_format=_float, escape=True)
        return f"{body}\n<p><small>Source: {html.escape(self.source)}</small></p>"

    def __repr__(self) -> str:
        return f"Table of {len(self.frame)} rows. Source: {self.source}"


@dataclass(frozen=True)
class Text:
    """A paragraph of Markdown (its parts that come from data must already be escaped)."""

    markdown: str

    def _repr_markdown_(self) -> str:
        return self.markdown

    def __repr__(self) -> str:
        return self.markdown


@dataclass(frozen=True)
class Notes:
    """Messages of one step (warnings, fallbacks), at most ``limit`` distinct ones, disclosure-checked."""

    texts: tuple[str, ...]
    limit: int = NOTE_LIMIT

    def _lines(self) -> list[str]:
        seen = list(dict.fromkeys(publishable_text(t) for t in self.texts))
        lines = [f"> Note ({html.escape(t)})" for t in seen[:self.limit]]
        if len(seen) > self.limit:
            lines.append(f"> ... and {len(seen) - self.limit} similar notes.")
        return lines

    def _repr_markdown_(self) -> str:
        return "\n>\n".join(self._lines())

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def __bool__(self) -> bool:
        return bool(self.texts)


def show(*items: Any) -> None:
    """Display each item in order (``None`` and empty :class:`Notes` are skipped)."""
    from IPython.display import display

    for item in items:
        if item is None or (isinstance(item, Notes) and not item):
            continue
        if isinstance(item, Iterable) and not isinstance(item, str | Table | Text | Notes | pd.DataFrame):
            show(*item)
            continue
        display(item)


class NotebookReport:
    """Numbers a notebook's figures; made by :func:`setup_notebook` (one per notebook)."""

    def __init__(self) -> None:
        self._figures = 0

    def caption(self, text: str) -> None:
        """Show the current matplotlib figure with a numbered caption below it."""
        import matplotlib.pyplot as plt

        self._figures += 1
        plt.show()
        show(Text(f"*Figure {self._figures}.* {html.escape(text)}"))


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    show(Text(f"> Note ({html.escape(publishable_text(f'{category.__name__}: {message}'))})"))


def setup_notebook(*, figure_size: Sequence[float] = (7.0, 3.6)) -> NotebookReport:
    """Prepare the kernel for a report and return the object that numbers its figures.

    Sets a fixed figure size and resolution (96 dpi) and a fixed SVG hash salt so that figures are
    byte-stable, three decimals for pandas output, hides FutureWarnings of the libraries, and shows every
    other warning as a note without file paths (with disclosure control applied to its text).
    """
    import matplotlib

    matplotlib.rcParams.update({"figure.dpi": 96, "savefig.dpi": 96, "figure.figsize": tuple(figure_size),
                                "svg.hashsalt": "ipf-eval"})
    pd.set_option("display.precision", 3)
    warnings.simplefilter("ignore", FutureWarning)
    warnings.showwarning = _show_warning
    return NotebookReport()
