"""CTAO DPPS DataPipe stage library: the science and the data, with no Airflow import."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("datapipe-ops")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
