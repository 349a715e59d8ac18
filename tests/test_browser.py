"""Rendered reports in a real headless browser: no page errors, every image decodes, no code, links resolve.

Uses Debian's ``chromium`` through the Chrome DevTools Protocol (``websocket-client``, installed with
Jupyter).  Without a browser the test skips and says how to get one (``apt-get install -y chromium``).
Set ``IPF_EVAL_BROWSER_REPORTS=reports`` to check a full rendered batch as well.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from _pipeline_helpers import make_project, real_project

from ipf_eval.pipeline import build_plan, run_batch

PROJECT = Path(__file__).resolve().parents[1]
BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
pytestmark = [pytest.mark.slow]
NO_BROWSER = "no headless browser found; install Debian's chromium (apt-get install -y chromium)"

CHECK_JS = """
(async () => {
  const images = await Promise.all(Array.from(document.images).map(
      img => img.decode().then(() => img.naturalWidth > 0, () => false)));
  const code = document.querySelectorAll(
      '.jp-InputArea-editor, .jp-CodeMirrorEditor, .input_area, .highlight-ipython3, .jp-InputPrompt').length;
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  const alts = Array.from(document.images).map(img => (img.getAttribute('alt') || '').trim());
  const appendix = document.querySelector('#technical-appendix');
  const text = document.body.innerText;
  const body = appendix ? text.replace(appendix.innerText, '') : text;
  return JSON.stringify({images, code, links, alts, title: document.title, text: body,
                         banner: !!document.querySelector('#data-banner'),
                         summary: !!document.querySelector('#summary'),
                         findings: !!document.querySelector('table#findings'),
                         recsFirst: (() => { const r = document.querySelector('#recommendations');
                                             const t = document.querySelector('table');
                                             return !!r && (!t || !!(r.compareDocumentPosition(t)
                                                            & Node.DOCUMENT_POSITION_FOLLOWING)); })()});
})()
"""


def test_ci_has_a_browser() -> None:
    """In CI (CI=true) the browser test must run, so a missing browser is a failure, not a skip."""
    if BROWSER is None and os.environ.get("CI"):
        pytest.fail("CI=true but no chromium was found: make test installs Debian's chromium with apt-get")
    if BROWSER is None:
        pytest.skip(NO_BROWSER)


class _Page:
    """One browser tab driven over the DevTools protocol."""

    def __init__(self, ws_url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for method in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(method)

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return dict(msg.get("result", {}))
            self.events.append(msg)

    @staticmethod
    def _describe(details: dict[str, Any]) -> str:
        return f"{details.get('text', '')} {details.get('exception', {}).get('description', '')}".strip()

    def open(self, url: str) -> dict[str, Any]:
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            self.events.append(json.loads(self.ws.recv()))
        result = self.call("Runtime.evaluate", expression=CHECK_JS, awaitPromise=True, returnByValue=True)
        errors = [self._describe(e["params"]["exceptionDetails"]) for e in self.events
                  if e.get("method") == "Runtime.exceptionThrown"]
        errors += [e["params"]["entry"]["text"] for e in self.events if e.get("method") == "Log.entryAdded"
                   and e["params"]["entry"]["level"] == "error"]
        return {**json.loads(result["result"]["value"]), "errors": errors}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Page]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    if BROWSER is None:
        pytest.skip(NO_BROWSER)
    proc = subprocess.Popen([BROWSER, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update",
                             "--disable-sync", "--disable-quic",
                             f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or proc.poll() is not None:
                (pytest.fail if os.environ.get("CI") else pytest.skip)(
                    f"{BROWSER} did not start a DevTools endpoint"
                )
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as resp:
            targets = json.load(resp)
        page = _Page(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
        yield page
        page.ws.close()
    finally:
        proc.kill()
        proc.wait(timeout=30)


# inf, nan, a Python warning, or a count printed with decimals (1,471.000; p = 1.000 is a p-value)
_BAD_TEXT = re.compile(r"\b(inf|nan|NaN)\b|Warning:|\b\d{1,3}(,\d{3})+\.000\b|\b([2-9]|1\d)\d*\.000\b")


def _check_folder(page: _Page, folder: Path, *, simulated: bool = False) -> int:
    """Check every page; with ``simulated``, also the banner, the summary and the findings table."""
    pages = sorted(p for p in folder.rglob("*.html") if "_runs" not in p.parts)
    assert pages, f"no HTML reports under {folder}"
    n_images = 0
    for html_file in pages:
        result = page.open(html_file.resolve().as_uri())
        assert result["errors"] == [], f"{html_file}: page errors {result['errors']}"
        assert all(result["images"]), f"{html_file}: an image does not decode"
        assert all(result["alts"]), f"{html_file}: an image has no alt text"
        assert result["code"] == 0, f"{html_file}: shows code cells"
        bad = _BAD_TEXT.search(result["text"])
        where = "" if bad is None else result["text"][max(0, bad.start() - 80):bad.end() + 40]
        assert bad is None, f"{html_file}: visible text {bad.group(0)!r} near {where!r}"
        # the Michigan case study reproduces published data: no banner there
        if simulated and html_file.name not in ("runs.html", "michigan_training_grants.html"):
            assert result["banner"], f"{html_file}: no simulated-data banner"
        if simulated and html_file.parent != folder and html_file.name not in ("index.html", "README.html"):
            assert result["summary"], f"{html_file}: no summary block"
        if simulated and html_file.name == "index.html":
            assert result["findings"], f"{html_file}: no findings table"
        if simulated and html_file.name == "synthesis.html":
            assert result["recsFirst"], f"{html_file}: the recommendations do not come before every table"
        n_images += len(result["images"])
        for href in result["links"]:
            url = urlparse(href)
            if url.scheme == "file":
                assert Path(unquote(url.path)).exists(), f"{html_file}: broken link {href}"
    return n_images


def test_rendered_reports_in_a_browser(browser: _Page, tmp_path: Path) -> None:
    batch = make_project(tmp_path, {"NO": ["alpha"]}, batch={"case_studies": ["getting_started"]},
                         country_over={"NO": {"name": "Norway <b>&</b>"}})
    report = run_batch(build_plan(batch), progress=False)
    assert report.exit_code == 0
    n_images = _check_folder(browser, tmp_path / "reports")
    assert n_images >= 1  # the fixture tour draws one figure


def test_full_batch_reports_in_a_browser(browser: _Page) -> None:
    folder = os.environ.get("IPF_EVAL_BROWSER_REPORTS")
    if not folder:
        pytest.skip("set IPF_EVAL_BROWSER_REPORTS=reports to check a full rendered batch")
    assert _check_folder(browser, Path(folder), simulated=True) > 0


def test_real_notebooks_in_a_browser(browser: _Page, tmp_path: Path) -> None:
    """The real notebooks on one simulated country, one instrument of each design and its country report:
    banner, summary block, findings table, alt text, and no inf, nan, warnings or .000 counts."""
    batch = real_project(tmp_path, {"countries": ["AT"],
                                    "instruments": ["loan_guarantee", "innovation_voucher", "rd_grant"],
                                    "output_dir": "reports", "workers": 2, "timeout": 300, "seed": 7,
                                    "synthesis": True, "case_studies": []})
    report = run_batch(build_plan(batch, project_root=tmp_path, notebooks_dir=PROJECT / "notebooks"),
                       progress=False)
    assert report.exit_code == 0, report.summary_table()
    assert _check_folder(browser, tmp_path / "reports", simulated=True) >= 3


def test_checker_sees_faults(browser: _Page, tmp_path: Path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><img src='data:image/png;base64,AAAA'>"
                   "<div class='jp-InputArea-editor'>x</div><a href='missing.html'>x</a>"
                   "<script>throw new Error('boom')</script></body></html>")
    result = browser.open(bad.as_uri())
    assert result["images"] == [False]
    assert result["code"] == 1
    assert any("boom" in e for e in result["errors"])
    with pytest.raises(AssertionError, match="page errors"):
        _check_folder(browser, tmp_path)
