"""Analysis errors; each ``code`` is stable (it lands in records and API responses)."""

from __future__ import annotations

from takeback.errors import TakebackError


class AnalysisError(TakebackError):
    """Analysis could not run (a model is missing, a plug-in is broken)."""

    code = "analysis_error"
