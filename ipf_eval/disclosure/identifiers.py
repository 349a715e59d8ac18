"""Firm identifiers in free text: find them in a rendered report, scrub them from a message.

The batch scans every rendered file of a run for every identifier of the data it was built from
(:func:`ipf_eval.pipeline.runner.execute_run`), and the notebooks' notes scrub the identifiers of their run
(:mod:`ipf_eval.pipeline.display`).  Both use the rule below, through :func:`identifier_set`.

**The rule.**  An identifier is searched by its text form (``str(value)``), case-sensitively, as a whole
token: not preceded or followed by a letter, digit or underscore.

* A **text identifier** (one with a character other than a digit, e.g. ``FIRM-00042``) is searched when it
  has at least :data:`MIN_TEXT_LENGTH` characters.  Shorter ones (``A``, ``B7``) would match ordinary words
  and abbreviations; they are skipped, and their number is in :attr:`IdentifierSet.n_skipped`.
* A **number** (an integer identifier, or text of digits only such as ``410501``) is searched when it has at
  least :data:`MIN_DIGITS` digits, as a whole number: not part of a decimal (``0.410501`` and ``410501.5``
  do not match, ``410501.0`` does), also when written with thousands separators (``410,501``).  Smaller
  numbers are indistinguishable from counts, years and amounts: simulated firms are numbered 1..n, and
  ``2009`` or ``120`` in a report is not a firm.  Digits with a leading zero (``00042``) are identifiers
  written as text and are searched from :data:`MIN_TEXT_LENGTH` characters, compared digit for digit.
* HTML-escaped forms (``O&#x27;Brien-1``) are searched too.  In a rendered page, images embedded as SVG
  data URIs are decoded and searched; other binary payloads (PNG) are skipped.

Searching costs one dictionary look-up per word of the text and identifier length, whatever the number of
identifiers, so a page is scanned for a register of a million firms in about the time it takes to read it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import html
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipf_eval._defaults import keyword_options

__all__ = ["MIN_DIGITS", "MIN_TEXT_LENGTH", "WITHHELD_IDENTIFIER", "IdentifierSet", "identifier_set",
           "output_text", "run_identifiers", "scan_identifiers", "scrub_identifiers", "write_identifiers"]

#: Numbers (integer identifiers) with fewer digits are not searched: they read as counts, years, amounts.
MIN_DIGITS = 6
#: Text identifiers (and digit strings with a leading zero) with fewer characters are not searched.
MIN_TEXT_LENGTH = 3
#: What :func:`scrub_identifiers` puts in place of an identifier.
WITHHELD_IDENTIFIER = "[withheld]"

_WORD = re.compile(r"\w+")
_DIGITS = re.compile(r"-?\d+")
# a whole number: not glued to a word, not the integer or fractional part of a decimal (".0" allowed)
_NUMBER = re.compile(r"(?<!\w)(?<!\d\.)(\d+)(?:\.0+(?!\d))?(?!\.\d)(?!\w)")
_GROUPED = re.compile(r"(?<![\w,])(?<!\d\.)(\d{1,3}(?:,\d{3})+)(?:\.0+(?!\d))?(?!,\d)(?!\.\d)(?!\w)")
_DATA_URI = re.compile(r"data:(?P<mime>[\w.+/-]+);base64,(?P<payload>[A-Za-z0-9+/=\s]+)")


@dataclass(frozen=True, eq=False)
class IdentifierSet:
    """Identifiers prepared for searching: build once with :func:`identifier_set`, search many texts.

    Attributes
    ----------
    words
        Number of word runs -> searched form -> identifier, for identifiers that begin and end with a letter
        or digit (``FIRM-00042`` is two runs).
    numbers
        Digit string without leading zeros -> identifier, for numbers of at least :data:`MIN_DIGITS` digits.
    padded
        Digit strings with a leading zero, compared digit for digit.
    other, other_forms
        A pattern for the rare identifiers that begin or end with punctuation (``#123``), or ``None``, and
        searched form -> identifier for them.
    n_searched, n_skipped
        Identifiers searched, and identifiers too short to search reliably (see the module docstring).
    """

    words: Mapping[int, Mapping[str, str]]
    numbers: Mapping[str, str]
    padded: frozenset[str]
    other: re.Pattern[str] | None
    other_forms: Mapping[str, str]
    n_searched: int
    n_skipped: int

    def __bool__(self) -> bool:
        return self.n_searched > 0

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Return ``(start, end, identifier)`` of every identifier in ``text``, in order."""
        found: list[tuple[int, int, str]] = []
        if self.words:
            runs = [(m.start(), m.end()) for m in _WORD.finditer(text)]
            for k, forms in self.words.items():
                lengths = {len(f) for f in forms}
                for i in range(len(runs) - k + 1):
                    start, end = runs[i][0], runs[i + k - 1][1]
                    if end - start in lengths:
                        hit = forms.get(text[start:end])
                        if hit is not None:
                            found.append((start, end, hit))
        if self.numbers or self.padded:
            for pattern in (_NUMBER, _GROUPED):
                for m in pattern.finditer(text):
                    digits = m.group(1).replace(",", "")
                    if digits in self.padded:
                        found.append((m.start(), m.end(), digits))
                    else:
                        hit = self.numbers.get(digits.lstrip("0") or "0")
                        if hit is not None:
                            found.append((m.start(), m.end(), hit))
        if self.other is not None:
            found += [(m.start(), m.end(), self.other_forms[m.group(0)]) for m in self.other.finditer(text)]
        return sorted(set(found))

    def find(self, text: str) -> list[str]:
        """Return the distinct identifiers found in ``text`` (sorted), embedded SVG images included."""
        if not self:
            return []
        return sorted({hit for part in _searchable_parts(text) for _, _, hit in self.spans(part)})

    def scrub(self, text: str, replacement: str = WITHHELD_IDENTIFIER) -> str:
        """Return ``text`` with every identifier replaced by ``replacement``."""
        if not self:
            return text
        out, last = [], 0
        for start, end, _ in self.spans(text):
            if start < last:
                continue  # overlaps an identifier replaced already
            out += [text[last:start], replacement]
            last = end
        return "".join([*out, text[last:]])


def _searchable_parts(text: str) -> Iterator[str]:
    """Yield the text with binary data URIs cut out, then each embedded SVG image decoded."""
    if "base64," not in text:
        yield text
        return
    svgs: list[str] = []

    def cut(m: re.Match[str]) -> str:
        if m.group("mime") == "image/svg+xml":
            with contextlib.suppress(binascii.Error, ValueError):
                svgs.append(base64.b64decode(m.group("payload")).decode("utf-8", errors="replace"))
        return " "

    yield _DATA_URI.sub(cut, text)
    yield from svgs


def _text_form(value: Any) -> str | None:
    """Return an identifier's text form (a whole float as an integer), or ``None`` for a missing value."""
    if not isinstance(value, str):
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, float):
            if math.isnan(value):
                return None
            if value.is_integer():
                return str(int(value))
    text = str(value).strip()
    return text or None


@keyword_options
def identifier_set(ids: Iterable[Any] | IdentifierSet) -> IdentifierSet:
    """Prepare identifiers for :func:`scan_identifiers` and :func:`scrub_identifiers`.

    Parameters
    ----------
    ids
        Firm identifiers of any type (integers, text, numpy or pandas scalars); missing values are ignored.
        An :class:`IdentifierSet` is returned as it is.

    Returns
    -------
    IdentifierSet
        The identifiers searched under the rule of the module docstring, and how many were skipped.

    Examples
    --------
    >>> s = identifier_set(["FIRM-00042", 410501, 17, "AB"])
    >>> s.n_searched, s.n_skipped
    (2, 2)
    >>> s.find("firms FIRM-00042 and 410,501; 17 firms; AB")
    ['410501', 'FIRM-00042']
    """
    if isinstance(ids, IdentifierSet):
        return ids
    words: dict[int, dict[str, str]] = {}
    numbers: dict[str, str] = {}
    padded: set[str] = set()
    other: dict[str, str] = {}
    searched = skipped = 0
    for text in dict.fromkeys(t for t in map(_text_form, ids) if t is not None):
        if _DIGITS.fullmatch(text):
            digits = text.lstrip("-")
            if len(digits) > 1 and digits.startswith("0"):
                ok = len(digits) >= MIN_TEXT_LENGTH
                if ok:
                    padded.add(digits)
            else:
                ok = len(digits) >= MIN_DIGITS
                if ok:
                    numbers[digits] = text
        else:
            ok = len(text) >= MIN_TEXT_LENGTH
            if ok:
                for form in dict.fromkeys((text, html.escape(text, quote=False), html.escape(text))):
                    if _WORD.match(form) and re.search(r"\w$", form):
                        words.setdefault(len(_WORD.findall(form)), {})[form] = text
                    else:
                        other[form] = text
        searched += ok
        skipped += not ok
    pattern = None
    if other:
        alternatives = "|".join(re.escape(f) for f in sorted(other, key=len, reverse=True))
        pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")
    return IdentifierSet(words=words, numbers=numbers, padded=frozenset(padded), other=pattern,
                         other_forms=other, n_searched=searched, n_skipped=skipped)


@keyword_options
def scan_identifiers(text: str, ids: Iterable[Any] | IdentifierSet) -> list[str]:
    """Return the firm identifiers that occur in ``text``, as text, sorted (empty when there are none).

    Parameters
    ----------
    text
        A rendered report (HTML, Markdown, a notebook's JSON) or a message.
    ids
        The identifiers of the data the text was built from, or an :class:`IdentifierSet` made from them
        (faster when many texts are scanned).

    Returns
    -------
    list of str
        Each identifier found, once, under the rule of the module docstring.

    Examples
    --------
    >>> scan_identifiers("dropped 3 rows of firm FIRM-00042.", ["FIRM-00042", "FIRM-00043"])
    ['FIRM-00042']
    >>> scan_identifiers("p = 0.410501; 2,410,501 EUR", [410501])
    []
    """
    return identifier_set(ids).find(text)


@keyword_options
def scrub_identifiers(text: str, ids: Iterable[Any] | IdentifierSet,
                      replacement: str = WITHHELD_IDENTIFIER) -> str:
    """Return ``text`` with every identifier of ``ids`` replaced by ``replacement`` (``"[withheld]"``).

    Examples
    --------
    >>> scrub_identifiers("firms 'FIRM-00042', 'FIRM-00043'", ["FIRM-00042", "FIRM-00043"])
    "firms '[withheld]', '[withheld]'"
    """
    return identifier_set(ids).scrub(text, replacement)


@keyword_options
def output_text(path: str | os.PathLike[str] | None) -> str:
    """Return the text of a rendered output file that is searched for identifiers (empty if it is missing).

    A notebook (``.ipynb``): its cells' sources and text outputs (streams, HTML, Markdown, plain text, SVG,
    errors), not its PNG bytes.  A JSON file (the evidence): its keys and text values; its numbers are
    estimates and counts, which an integer identifier would match by chance.  Any other file: its text.
    """
    if path is None or not Path(path).is_file():
        return ""
    target = Path(path)
    text = target.read_text(encoding="utf-8", errors="replace")
    if target.suffix not in (".ipynb", ".json"):
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if target.suffix == ".json":
        return "\n".join(_strings(data))
    parts: list[str] = []
    for cell in data.get("cells", []) if isinstance(data, dict) else []:
        parts.append(_joined(cell.get("source", "")))
        for out in cell.get("outputs", []):
            parts += [_joined(out.get("text", "")), str(out.get("evalue", "")),
                      *map(str, out.get("traceback", []))]
            parts += [_joined(v) for k, v in (out.get("data") or {}).items()
                      if not k.startswith("image/") or k == "image/svg+xml"]
    return "\n".join(parts)


def _joined(value: Any) -> str:
    if isinstance(value, list):
        return "".join(map(str, value))
    return value if isinstance(value, str) else json.dumps(value)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@keyword_options
def write_identifiers(path: str | os.PathLike[str], ids: Iterable[Any]) -> int:
    """Write identifiers to a private local file, one text form per line (read by :func:`run_identifiers`).

    The file is created readable by its owner only.  Returns the number of identifiers written (identifiers
    holding a line break cannot be written and are left out).
    """
    forms = [t for t in dict.fromkeys(map(_text_form, ids)) if t is not None and "\n" not in t]
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(f"{t}\n" for t in forms))
    os.replace(tmp, target)
    return len(forms)


@keyword_options
def run_identifiers() -> IdentifierSet:
    """Return the identifiers of the data the current batch run was built from (empty outside a batch run).

    The batch writes them, one per line, to the file next to the run's local log
    (:func:`ipf_eval.disclosure.local_log.identifiers_file`); the notes of a report scrub them.  The file is
    read once per version (its path, size and modification time).
    """
    from ipf_eval.disclosure.local_log import identifiers_file

    path = identifiers_file()
    if path is None:
        return _EMPTY
    try:
        stat = path.stat()
    except OSError:
        return _EMPTY
    return _read_identifiers(str(path), stat.st_size, stat.st_mtime_ns)


_EMPTY = identifier_set(())


@functools.lru_cache(maxsize=4)
def _read_identifiers(path: str, size: int, mtime_ns: int) -> IdentifierSet:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return _EMPTY
    return identifier_set(lines)
