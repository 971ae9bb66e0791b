"""The review grid (``/review``): an investigator reviews a ``takeback scan`` case folder in place,
through :mod:`takeback.triage.review` (the same service any other surface would call)."""

from takeback.web.review.routes import router

__all__ = ["router"]
