"""Single source of the package version."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__: str = version("ipf-eval")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installation
    __version__ = "0.0.0+unknown"
