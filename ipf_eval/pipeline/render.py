"""Rendering: executed notebooks to HTML without code, index pages, and ``evidence.csv``.

Every name that comes from data or parameter files (countries, agencies, instruments, error messages)
passes through :func:`html.escape` before it reaches HTML.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ipf_eval._defaults import keyword_options
from ipf_eval.pipeline._io import atomic_write_text
from ipf_eval.pipeline.records import evidence_frame, read_evidence

__all__ = ["notebook_to_html", "write_country_index", "write_evidence_csv", "write_forum_index"]

_STYLE = """<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.ok{color:#176317}.failed{color:#a01010;font-weight:bold}.skipped{color:#555}
pre.error{white-space:pre-wrap;background:#fbeaea;padding:.4rem;margin:0;font-size:.85rem}
</style>"""


_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
"""


@keyword_options
def notebook_to_html(notebook: str | Path, *, title: str) -> str:
    """Convert an executed notebook to a standalone HTML page without code cells or prompts.

    Figures are embedded (base64 PNG) and no script is loaded from the network, so a report opens offline.
    Cells tagged ``remove_cell`` are dropped, outputs of cells
    tagged ``remove_output`` are dropped.

    Parameters
    ----------
    notebook
        The executed notebook.
    title
        Page title (escaped by the template).

    Returns
    -------
    str
        The HTML page.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(notebook), as_version=4)
    nb.cells = [c for c in nb.cells
                if "injected-parameters" not in c.get("metadata", {}).get("tags", [])
                and "parameters" not in c.get("metadata", {}).get("tags", [])]
    import jinja2

    # the lab template without require.js and MathJax from a CDN: reports must work offline
    loader = jinja2.DictLoader({"ipf_eval_report.html.j2": _TEMPLATE})
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            extra_loaders=[loader], template_file="ipf_eval_report.html.j2")
    remover = TagRemovePreprocessor(remove_cell_tags={"remove_cell"},
                                    remove_all_outputs_tags={"remove_output"})
    exporter.register_preprocessor(remover, enabled=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return str(body)


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def _status_cell(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "<td class='skipped'>not run yet</td>"
    status = str(entry.get("status", "unknown"))
    css = {"ok": "ok", "failed": "failed"}.get(status, "skipped")
    text = f"<td class='{css}'>{html.escape(status)}"
    if status == "failed":
        text += f"<pre class='error'>{html.escape(str(entry.get('error', '')))}</pre>"
        if entry.get("report_from"):
            text += (f"<p class='stale'>Out of date: the page shown is the report of "
                     f"{html.escape(str(entry['report_from'])[:10])}, marked stale.</p>")
    return text + "</td>"


def _link(entry: Mapping[str, Any] | None, html_path: Path, failed_nb: Path, here: Path, label: str) -> str:
    parts = []
    if html_path.is_file():
        parts.append(f"<a href='{html.escape(_rel(html_path, here))}'>{html.escape(label)}</a>")
    else:
        parts.append(html.escape(label))
    if entry is not None and entry.get("status") == "failed" and failed_nb.is_file():
        parts.append(f" (<a href='{html.escape(_rel(failed_nb, here))}'>executed notebook</a>)")
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"{_STYLE}</head><body><h1>{html.escape(title)}</h1>{body}</body></html>\n")


def _banner(findings: pd.DataFrame | None, agency: str = "") -> str:
    from ipf_eval.pipeline.display import data_banner

    if findings is None or not len(findings):
        return ""
    banner = data_banner(findings["data_source"], agency=agency)
    return "" if banner is None else banner.to_html()


def _findings_table(findings: pd.DataFrame | None, rows: Sequence[Mapping[str, Any]], here: Path,
                    *, with_country: bool) -> str:
    """Return the findings table (``<table id="findings">``): a row per evaluated country and instrument."""
    if findings is None or not len(findings):
        return "<p>No findings yet: no instrument evaluation has written its evidence.</p>"
    links = {(r.get("country"), r.get("instrument")): r for r in rows if r.get("instrument")}
    head = ["Country"] * with_country + ["Instrument", "Outcome", "Effect", "Evidence", "Cost per outcome",
                                         "Verdict"]
    out = ["<table id='findings'><thead><tr>", *(f"<th>{h}</th>" for h in head), "</tr></thead><tbody>"]
    for f in findings.to_dict(orient="records"):
        run = links.get((f["country"], f["instrument"]))
        label = str(run["label"]) if run else str(f["instrument"])
        name = (_link(run["entry"], run["html"], run["failed"], here, label) if run else html.escape(label))
        cells = [html.escape(str(f["country"]))] * with_country + [
            name, html.escape(str(f["outcome"])), html.escape(str(f["effect"])), html.escape(str(f["grade"])),
            html.escape(str(f["cost"]) or "–"),
            html.escape(str(f["verdict"]))]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


@keyword_options
def write_country_index(*, target: Path, country: str, country_name: str, agency: str,
                        rows: Sequence[Mapping[str, Any]], findings: pd.DataFrame | None = None) -> None:
    """Write ``reports/<CC>/index.html``.

    Parameters
    ----------
    target
        The index file.
    country, country_name, agency
        Identifiers (escaped).
    rows
        One mapping per run with ``label``, ``html`` (Path), ``failed`` (Path), ``entry`` (manifest entry or
        ``None``), and for instrument runs ``country`` and ``instrument``.
    findings
        The country's rows of :func:`ipf_eval.pipeline.summary.findings_rows` (the findings table).
    """
    here = target.parent
    body = [_banner(findings, agency), f"<p>Agency: {html.escape(agency)} ({html.escape(country)})</p>",
            "<h2>Findings</h2>", _findings_table(findings, rows, here, with_country=False),
            "<h2>Reports</h2><table><thead><tr><th>Report</th><th>Status</th></tr></thead><tbody>"]
    for row in rows:
        body.append(f"<tr><td>{_link(row['entry'], row['html'], row['failed'], here, str(row['label']))}</td>"
                    f"{_status_cell(row['entry'])}</tr>")
    body.append("</tbody></table><p><a href='../index.html'>All countries</a></p>")
    atomic_write_text(target, _page(f"{country_name}: evaluation reports", "".join(body)))


@keyword_options
def write_forum_index(*, target: Path, rows: Sequence[Mapping[str, Any]],
                      countries: Sequence[tuple[str, str, Path]], evidence_csv: Path | None,
                      findings: pd.DataFrame | None = None) -> None:
    """Write ``reports/index.html``, the landing page, and ``reports/runs.html``, the run log.

    The landing page opens with the simulated-data banner where it applies and the findings table (one row
    per country and instrument, linking to each report), then the countries, the synthesis and the data;
    every run's status, time and error go to the run log.

    Parameters
    ----------
    target
        The index file.
    rows
        One mapping per run (see :func:`write_country_index`) plus ``run_id``.
    countries
        ``(code, name, index path)`` per country.
    evidence_csv
        The evidence table, linked when it exists.
    findings
        :func:`ipf_eval.pipeline.summary.findings_rows` of every country.
    """
    here = target.parent
    n_failed = sum(1 for r in rows if r["entry"] is not None and r["entry"].get("status") == "failed")
    others = [r for r in rows if r.get("kind") not in ("instrument", "country")]
    body = [_banner(findings), "<h2>Findings</h2>", _findings_table(findings, rows, here, with_country=True)]
    if others:
        body.append("<h2>Forum reports</h2><ul>" + "".join(
            f"<li>{_link(r['entry'], r['html'], r['failed'], here, str(r['label']))}</li>" for r in others)
            + "</ul>")
    body.append("<h2>Countries</h2><ul>")
    for code, name, index in countries:
        body.append(f"<li><a href='{html.escape(_rel(index, here))}'>{html.escape(name)} "
                    f"({html.escape(code)})</a></li>")
    body.append("</ul>")
    if evidence_csv is not None and evidence_csv.is_file():
        body.append(f"<p>Machine-readable estimates: <a href='{html.escape(_rel(evidence_csv, here))}'>"
                    f"evidence.csv</a></p>")
    runs_page = target.parent / "runs.html"
    body.append(f"<p>Run log: <a href='{html.escape(_rel(runs_page, here))}'>{len(rows)} runs, {n_failed} "
                "failed</a>.</p>")
    atomic_write_text(target, _page("Innovation policy forum: evaluation reports", "".join(body)))
    log = [f"<p>{len(rows)} runs, {n_failed} failed. <a href='{html.escape(_rel(target, here))}'>Findings"
           "</a></p><table><thead><tr><th>Run</th><th>Report</th><th>Status</th><th>Seconds</th></tr>"
           "</thead><tbody>"]
    for row in rows:
        entry = row["entry"]
        secs = "" if entry is None else f"{float(entry.get('seconds', 0.0)):.1f}"
        log.append(f"<tr><td>{html.escape(str(row['run_id']))}</td>"
                   f"<td>{_link(entry, row['html'], row['failed'], here, str(row['label']))}</td>"
                   f"{_status_cell(entry)}<td>{secs}</td></tr>")
    log.append("</tbody></table>")
    atomic_write_text(runs_page, _page("Innovation policy forum: run log", "".join(log)))


@keyword_options
def write_evidence_csv(evidence_dir: Path, target: Path) -> int:
    """Collect every evidence record into ``evidence.csv`` (one row per estimate); return the row count."""
    records = read_evidence(evidence_dir) if evidence_dir.is_dir() else []
    frame = evidence_frame(records)
    atomic_write_text(target, frame.to_csv(index=False, lineterminator="\n"))
    return len(frame)
