"""takeback: fingerprints, hash banks, evidence and triage for AI-generated intimate image abuse."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("takeback")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
