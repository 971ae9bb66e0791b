"""Matching: query signals against the bank indexes, apply bank policy, return explainable matches.

:class:`Matcher` is the one object a process keeps (the CLI for one command, the web service for
its lifetime); see :mod:`takeback.matching.service` for how it stays fresh.
"""

from takeback.matching.models import Match, MatchQuery, MatchResult, Suppressor
from takeback.matching.service import Matcher, MatchingError, open_matcher

__all__ = ["Match", "MatchQuery", "MatchResult", "Matcher", "MatchingError", "Suppressor", "open_matcher"]
