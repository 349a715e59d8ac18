"""Rendering: HTML without code, escaped index pages, evidence records and evidence.csv, atomic writes."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import matplotlib
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from ipf_eval.pipeline._io import atomic_path, atomic_write_text, stable_hash
from ipf_eval.pipeline.records import EVIDENCE_COLUMNS
from ipf_eval.pipeline.render import (
    notebook_to_html,
    write_country_index,
    write_evidence_csv,
    write_forum_index,
)

XSS = "<img src=x onerror=alert(1)>"


def _png() -> str:
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def test_notebook_to_html_has_no_code(tmp_path: Path) -> None:
    png = _png()
    nb = new_notebook(cells=[
        new_markdown_cell("# Report"),
        new_code_cell("country = 'AT'", metadata={"tags": ["parameters"]}),
        new_code_cell("SECRET_CODE = compute()", outputs=[
            new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
            new_output("display_data", data={"text/markdown": "*Figure 1.* A caption"})]),
        new_code_cell("hidden()", metadata={"tags": ["remove_cell"]},
                      outputs=[new_output("stream", name="stdout", text="HIDDEN OUTPUT")]),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    page = notebook_to_html(path, title=f"Report {XSS}")
    assert "SECRET_CODE" not in page
    assert "country = 'AT'" not in page
    assert "HIDDEN OUTPUT" not in page
    assert "data:image/png;base64," + png[:40] in page
    assert "A caption" in page
    assert not re.search(r"<script[^>]+src=[\"']?https?:", page)  # no script from the network: works offline
    assert XSS not in page


def _rows(tmp_path: Path) -> list[dict]:
    good = tmp_path / "AT" / "alpha.html"
    good.parent.mkdir(parents=True)
    good.write_text("<html></html>")
    failed_nb = tmp_path / "_runs" / "AT" / "beta.failed.ipynb"
    failed_nb.parent.mkdir(parents=True)
    failed_nb.write_text("{}")
    return [
        {"run_id": "AT/alpha", "label": f"Alpha {XSS}", "html": good, "failed": tmp_path / "x",
         "entry": {"status": "ok", "seconds": 1.25}},
        {"run_id": "AT/beta", "label": "Beta", "html": tmp_path / "AT" / "beta.html", "failed": failed_nb,
         "entry": {"status": "failed", "error": f"ValueError: {XSS}", "seconds": 2.0}},
        {"run_id": "AT/gamma", "label": "Gamma", "html": tmp_path / "AT" / "gamma.html",
         "failed": tmp_path / "y", "entry": None},
    ]


def test_country_index_escapes_and_links(tmp_path: Path) -> None:
    target = tmp_path / "AT" / "index.html"
    rows = _rows(tmp_path)
    write_country_index(target=target, country="AT", country_name=f"Austria {XSS}", agency="A & B", rows=rows)
    page = target.read_text()
    assert XSS not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "A &amp; B" in page
    assert "href='alpha.html'" in page
    assert "href='../_runs/AT/beta.failed.ipynb'" in page
    assert "not run yet" in page


def test_forum_index(tmp_path: Path) -> None:
    rows = _rows(tmp_path)
    csv = tmp_path / "evidence.csv"
    csv.write_text("x\n")
    write_forum_index(target=tmp_path / "index.html", rows=rows,
                      countries=[("AT", f"Austria {XSS}", tmp_path / "AT" / "index.html")], evidence_csv=csv)
    page = (tmp_path / "index.html").read_text()
    assert XSS not in page
    assert "3 runs, 1 failed" in page
    assert "href='AT/index.html'" in page
    assert "href='evidence.csv'" in page


def _estimates(n: int) -> list[dict]:
    return [{"outcome": f"y{i}", "estimator": "att_gt", "term": "att", "estimate": 0.1 * i, "std_error": 0.05,
             "statistic": 2.0 * i, "p_value": 0.04, "ci_low": 0.0, "ci_high": 0.2, "n_obs": 10}
            for i in range(n)]


def test_empty_evidence_csv_has_header(tmp_path: Path) -> None:
    assert write_evidence_csv(tmp_path / "missing", tmp_path / "evidence.csv") == 0
    assert (tmp_path / "evidence.csv").read_text().strip() == ",".join(EVIDENCE_COLUMNS)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    atomic_write_text(target, "old")
    def write_half_then_fail() -> None:
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_half_then_fail()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_stable_hash_ignores_key_order() -> None:
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
