"""The console's case pages reuse the staff fixtures: one running service per module, accounts made
through the staff service, signing in over HTTP or in Chromium."""

from __future__ import annotations

from tests.web.staff.conftest import staff_web

__all__ = ["staff_web"]
