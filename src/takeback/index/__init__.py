"""In-memory indexes over signal values. ``PdqIndex``: exact range search in 256-bit Hamming space."""

from takeback.index.mih import warm_up
from takeback.index.pdq import PdqIndex, PdqIndexError, SearchResult

__all__ = ["PdqIndex", "PdqIndexError", "SearchResult", "warm_up"]
