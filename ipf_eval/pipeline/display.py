"""What a report notebook displays: tables with their source line, notes, text, and numbered captions.

The notebooks call these instead of defining helpers of their own.  Every object renders as HTML or
Markdown in Jupyter and has a deterministic plain-text form (nbval compares both), and every string that
comes from data or parameter files is escaped.

:func:`setup_notebook` prepares a kernel for a report (fixed figure size and resolution, warnings shown as
notes with disclosure control applied) and returns the :class:`NotebookReport` that numbers the figures.

Notes, warnings, the technical appendix and figure captions pass
:func:`~ipf_eval.disclosure.publishable_text` with the identifiers of the run's data: in a batch run the
runner writes them next to the run's local log and :func:`~ipf_eval.disclosure.run_identifiers` reads them
(outside a batch there are none, and only small counts are withheld).  An identifier becomes
``[withheld]``.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.disclosure import publishable_text, run_identifiers

__all__ = ["NOTE_LIMIT", "Banner", "NotebookReport", "Notes", "Table", "TechnicalAppendix", "Text",
           "data_banner", "reviewer_sentence", "setup_notebook", "show"]

#: Distinct notes shown per step before the rest are summarised.
NOTE_LIMIT = 6


def _public(text: str) -> str:
    """Apply disclosure control to a report's text: the run's identifiers scrubbed, small counts withheld."""
    return publishable_text(text, identifiers=run_identifiers())


def _float(v: float) -> str:
    # a whole number (a count stored as a float) prints as an integer, never "1,471.000"; other figures
    # with three significant digits and never in scientific notation
    from ipf_eval.pipeline.formatting import number

    return f"{v:,.0f}" if float(v).is_integer() else number(v)


@dataclass(frozen=True, eq=False)
class Table:
    """A table with the source line every published table carries.

    Its HTML headers are the columns in words (:func:`ipf_eval.pipeline.formatting.column_label`); the
    values are formatted by their columns' names in the data (``p_value`` columns as p-values).
    """

    frame: pd.DataFrame
    source: str

    def _repr_html_(self) -> str:
        from ipf_eval.pipeline.formatting import column_label, p_value

        frame = self.frame
        p_cols = [c for c in frame.columns if str(c) == "p_value" or str(c).endswith("_p_value")]
        if p_cols:
            frame = frame.assign(**{str(c): frame[c].map(p_value) for c in p_cols})
        frame = frame.set_axis([column_label(str(c)) for c in frame.columns], axis="columns")
        body = frame.to_html(index=False, na_rep="", float_format=_float, escape=True)
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
        seen = list(dict.fromkeys(_public(t) for t in self.texts))
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


@dataclass(frozen=True)
class Banner:
    """The notice a page opens with when its figures come from simulated firms (HTML and plain text)."""

    text: str

    def _repr_html_(self) -> str:
        return self.to_html()

    def to_html(self) -> str:
        """Return the banner as an HTML ``<div id="data-banner">``."""
        return ("<div id='data-banner' class='ipf-banner' role='note' style='border:2px solid #b35900;"
                "background:#fff4e5;padding:.6rem 1rem;margin:.5rem 0 1rem'><strong>Simulated data.</strong> "
                f"{html.escape(self.text)}</div>")

    def __repr__(self) -> str:
        return f"SIMULATED DATA. {self.text}"


@keyword_options
def data_banner(sources: Iterable[str], *, agency: str = "") -> Banner | None:
    """Return the simulated-data banner for a page built from rows with these ``data_source`` values.

    ``None`` when every row comes from an agency's own data; a banner saying so when every row is
    simulated; and, when the page mixes both, a banner saying how many of its evaluations are simulated.
    """
    values = [str(s) for s in sources]
    simulated = sum(v == "simulated" for v in values)
    if not simulated:
        return None
    whose = f"of {agency} or of its programmes" if agency else "of the agencies named or of their programmes"
    if simulated == len(values):
        return Banner(f"The figures on this page come from simulated firms, generated to demonstrate the "
                      f"method. They are not an evaluation {whose}.")
    return Banner(f"This page mixes evaluations of simulated and of real data: {simulated} of {len(values)} "
                  "estimates come from simulated firms, generated to demonstrate the method, and are not an "
                  "evaluation of the agencies named. Read only the others as evidence.")


@keyword_options
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


#: How a warning's category reads in the technical appendix.
_CATEGORY_WORDS: dict[str, str] = {
    "EstimationWarning": "Estimation", "DataWarning": "Data", "DisclosureWarning": "Disclosure control",
    "RuntimeWarning": "Numerical computation", "ConvergenceWarning": "Convergence",
    "IpfEvalWarning": "Note", "UserWarning": "Note",
}


@keyword_options
def reviewer_sentence(text: str) -> str:
    """Rewrite a warning (``"EstimationWarning: att_gt(): ..."``) as a sentence a reviewer can act on.

    The Python category becomes words (``"Estimation: ..."``), the message starts with a capital and ends
    with a full stop, and the text passes disclosure control (the run's firm identifiers scrubbed).
    """
    text = _public(str(text)).strip()
    head, sep, rest = text.partition(": ")
    if sep and (head.endswith(("Warning", "Error")) and head.isidentifier()):
        label = _CATEGORY_WORDS.get(head, "Note")
        text = f"{label}: {rest[:1].upper()}{rest[1:]}"
    return text if text.endswith((".", ")")) else f"{text}."


@dataclass(frozen=True)
class TechnicalAppendix:
    """The notes of a report's steps for reviewers: ``<section id="technical-appendix">`` at the end.

    Each note is shown through disclosure control, the run's firm identifiers scrubbed.
    """

    notes: tuple[tuple[str, str], ...]

    def _repr_html_(self) -> str:
        if not self.notes:
            body = "<p>No step of this report raised a note.</p>"
        else:
            items = "".join(f"<li><strong>{html.escape(step)}</strong>: {html.escape(_public(text))}</li>"
                            for step, text in self.notes)
            body = f"<ul>{items}</ul>"
        return ("<section id='technical-appendix'><h2>Technical appendix: notes for reviewers</h2>"
                f"{body}</section>")

    def __repr__(self) -> str:
        lines = [f"- {step}: {_public(text)}" for step, text in self.notes]
        lines = lines or ["No step of this report raised a note."]
        return "\n".join(["Technical appendix: notes for reviewers", *lines])


class NotebookReport:
    """Numbers a notebook's figures and collects its warnings; made by :func:`setup_notebook`."""

    def __init__(self) -> None:
        self._figures = 0
        self.notes: list[str] = []

    def appendix(self, steps: Mapping[str, Sequence[str]] | None = None) -> TechnicalAppendix:
        """Return the technical appendix: each step's notes, then the warnings the notebook raised."""
        seen: dict[tuple[str, str], None] = {}
        for step, texts in (steps or {}).items():
            for t in texts:
                seen[(step.replace("_", " "), reviewer_sentence(t))] = None
        for t in self.notes:
            seen[("report", reviewer_sentence(t))] = None
        return TechnicalAppendix(tuple(seen))

    def figure(self, fig: Any, *, alt: str, caption: str) -> None:
        """Show a matplotlib figure as a numbered ``<figure>`` with alt text and caption, and close it."""
        from ipf_eval.pipeline.figures import Figure

        self._figures += 1
        show(Figure.from_matplotlib(fig, alt=_public(alt), caption=_public(caption), number=self._figures))

    def caption(self, text: str, *, alt: str | None = None) -> None:
        """Show the current pyplot figure with a numbered caption; its alt text is ``alt`` or the caption."""
        import matplotlib.pyplot as plt

        self.figure(plt.gcf(), alt=alt or text, caption=text)


def _show_warning(message: Any, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    text = _public(f"{category.__name__}: {message}")
    if _ACTIVE:
        _ACTIVE[-1].notes.append(text)  # to the technical appendix, not the body
    else:
        show(Text(f"> Note ({html.escape(text)})"))


_ACTIVE: list[NotebookReport] = []


@keyword_options
def setup_notebook(*, figure_size: Sequence[float] = (7.0, 3.6)) -> NotebookReport:
    """Prepare the kernel for a report and return the object that numbers its figures.

    Sets a fixed figure size and resolution (96 dpi) and a fixed SVG hash salt so that figures are
    byte-stable, three decimals for pandas output, hides FutureWarnings of the libraries, and shows every
    other warning as a note without file paths (with disclosure control applied to its text, the run's firm
    identifiers scrubbed).
    """
    import matplotlib

    matplotlib.rcParams.update({"figure.dpi": 96, "savefig.dpi": 96, "figure.figsize": tuple(figure_size),
                                "svg.hashsalt": "ipf-eval"})
    pd.set_option("display.precision", 3)
    warnings.simplefilter("ignore", FutureWarning)
    warnings.showwarning = _show_warning
    report = NotebookReport()
    _ACTIVE[:] = [report]
    return report
