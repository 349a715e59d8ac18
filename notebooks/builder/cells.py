"""Cell constructors and the set-up code every notebook starts with."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

Cells = list[nbformat.NotebookNode]


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(src: str, *, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    cell = new_code_cell(src.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def params(src: str) -> nbformat.NotebookNode:
    return code(src, tags=("parameters",))


# Shared set-up: deterministic figures, captions and source lines, warnings shown as notes (their text
# would otherwise carry file paths and line numbers into the outputs).
SETUP = '''
import html
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display

matplotlib.rcParams.update({"figure.dpi": 96, "savefig.dpi": 96, "figure.figsize": (7.0, 3.6),
                            "svg.hashsalt": "ipf-eval"})
pd.set_option("display.precision", 3)
warnings.simplefilter("ignore", FutureWarning)
_figure = [0]


def caption(text):
    """Show the current figure with a numbered caption below it."""
    _figure[0] += 1
    plt.show()
    display(Markdown(f"*Figure {_figure[0]}.* {html.escape(text)}"))


def table(frame, source):
    """Show a table with its source line."""
    display(HTML(frame.to_html(index=False, na_rep="", float_format=lambda v: f"{v:,.3f}", escape=True)))
    display(Markdown(f"<small>Source: {html.escape(source)}</small>"))


def _publishable(text):
    """Warnings can quote small numbers of firms; withhold those (strictest profile)."""
    from ipf_eval.disclosure import scan_html

    if scan_html(text, profile="research_data_centre").clean:
        return text
    return "a message was withheld by disclosure control because it quotes a small number of firms"


def notes(caught, limit=6):
    """List the distinct warnings raised during a step (without file paths), at most ``limit``."""
    seen = list(dict.fromkeys(_publishable(f"{w.category.__name__}: {w.message}") for w in caught))
    for text in seen[:limit]:
        display(Markdown(f"> Note ({html.escape(text)})"))
    if len(seen) > limit:
        display(Markdown(f"> ... and {len(seen) - limit} similar notes."))


def _show_warning(message, category, filename, lineno, file=None, line=None):
    display(Markdown(f"> Note ({html.escape(_publishable(f'{category.__name__}: {message}'))})"))


warnings.showwarning = _show_warning
'''
