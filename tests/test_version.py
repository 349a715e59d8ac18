"""The package says its version; ``import ipf_eval`` reaches the bundled datasets."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import ipf_eval
from ipf_eval.pipeline import cli


def test_dunder_version_is_the_installed_distributions() -> None:
    assert ipf_eval.__version__ == version("ipf-eval")
    assert "__version__" in ipf_eval.__all__


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"ipf-eval {ipf_eval.__version__}\n"


def test_console_script_version() -> None:
    script = Path(sys.executable).with_name("ipf-eval")
    if not script.is_file():  # pragma: no cover - the project venv installs it
        pytest.skip(f"no console script next to {sys.executable}")
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == f"ipf-eval {ipf_eval.__version__}"


def test_import_makes_datasets_an_attribute() -> None:
    """In a fresh interpreter: nothing else has imported the submodule."""
    code = ("import sys, ipf_eval; assert 'ipf_eval.datasets' in sys.modules; "
            "print(ipf_eval.datasets.michigan_training_grants.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=True)
    assert out.stdout.strip() == "michigan_training_grants"
    assert "datasets" in ipf_eval.__all__
    assert ipf_eval.datasets.michigan_training_grants is ipf_eval.michigan_training_grants
