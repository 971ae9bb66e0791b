"""In-memory indexes over signal values. ``PdqIndex``: exact range search in 256-bit Hamming space."""

from takeback.index.pdq import PdqIndex, PdqIndexError, SearchResult
from takeback.index.warm import warm_up

__all__ = ["PdqIndex", "PdqIndexError", "SearchResult", "warm_up"]
