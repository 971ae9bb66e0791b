"""Line breaking for mixed Chinese and Latin text, shared by the PDF and terminal renderers.

Why our own: Latin wrappers (``textwrap``, fpdf2's ``multi_cell``) break only at spaces and cut a
Chinese sentence, which has none, wherever the line is full: inside a sum of money ("港幣1,0 /
00,000元"), a date ("20 / 26-06-30"), a URL or a case number. The rules here are the core of
UAX #14 and of Chinese typesetting practice (kinsoku):

- a line may break after a space, and between two CJK characters, or between a CJK character and a
  Latin run;
- a Latin run (letters, digits and the punctuation between them: ``1,000,000``, ``2026-06-30``,
  ``https://www.pcpd.org.hk``, ``Cap. 579``'s ``Cap.``) is never broken, unless the run alone is
  wider than the line; then it breaks after ``/ - _ . ? & = #`` where possible, else where the line is full;
- closing punctuation (，。、；：？！）」』》…) never starts a line and opening punctuation
  (（「『《) never ends one;
- a number keeps the character after it, its unit or counter ("5年", "1,000,000元", "66條");
- ``\\n`` is a hard line break.

The width of a string is whatever ``measure`` says (points in a PDF font, terminal columns), so one
algorithm serves both renderers.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from functools import lru_cache

__all__ = ["NO_BREAK_AFTER", "NO_BREAK_BEFORE", "is_cjk", "segments", "wrap"]

#: may not start a line (closing brackets, sentence and clause punctuation, iteration marks)
NO_BREAK_BEFORE = frozenset(
    "，。、；：？！）」』】》〉〕〗〙〛｝］”’…‥・ー々〻ゝゞヽヾ"
    "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ％‰℃¢°′″"
    ",.;:!?)]}%"
)
#: may not end a line (opening brackets, currency signs that lead a number)
NO_BREAK_AFTER = frozenset("（「『【《〈〔〖〘〚｛［“‘([{$£¥€₩＄￥")
#: inside a run too wide for any line, break after these first
_SOFT_BREAK_AFTER = frozenset("/-_.?&=#")
#: spaces that join rather than separate (no-break, narrow no-break, figure space)
_NO_BREAK_SPACES = frozenset("\u00a0\u202f\u2007\u2060\ufeff")


def _is_space(ch: str) -> bool:
    return ch.isspace() and ch not in _NO_BREAK_SPACES


@lru_cache(maxsize=4096)
def is_cjk(ch: str) -> bool:
    """A character that sits in its own box and lets a line break on either side of it."""
    return unicodedata.east_asian_width(ch) in "WF" and not ch.isspace()


def segments(text: str) -> list[str]:
    """Split one line of text (no ``\\n``) into unbreakable pieces, each with its trailing spaces.

    A line may break only between two pieces; ``"".join(segments(t)) == t``.
    """
    out: list[str] = []
    cur = ""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if _is_space(ch):
            j = i
            while j < n and _is_space(text[j]):
                j += 1
            cur += text[i:j]  # spaces trail the piece before them
            i = j
            continue
        if is_cjk(ch):
            token, i = ch, i + 1
        else:
            j = i
            while j < n and not _is_space(text[j]) and not is_cjk(text[j]):
                j += 1
            token, i = text[i:j], j
        glue = (
            not cur
            or token[0] in NO_BREAK_BEFORE
            or cur[-1] in NO_BREAK_AFTER
            or (cur[-1].isdigit() and is_cjk(token[0]))  # a number keeps its unit: 5年, 1,000,000元
        )
        if glue:
            cur += token
        else:
            out.append(cur)
            cur = token
    if cur:
        out.append(cur)
    return out


def _best_cut(s: str, fit: int) -> int:
    """Where to cut ``s``, whose first ``fit`` characters fit, when all of it does not.

    Every place inside a piece is held by some rule, so give up the least important first, at the
    last such place: a number's unit ("5 / 年"), then a punctuation rule ("2026-06-30 / ，", also at a
    space the rule glued: "2026-06-30 / ，"), then a
    Latin run after a URL or path separator (in the second half of the line), else where it is full.
    """
    places = range(min(fit, len(s) - 1), 0, -1)
    for k in places:
        if s[k - 1].isdigit() and is_cjk(s[k]) and s[k] not in NO_BREAK_BEFORE:
            return k
    # a space whose piece before it fits (its trailing spaces are dropped), or a CJK boundary
    spaces = (
        k
        for k in range(len(s) - 1, 0, -1)
        if _is_space(s[k - 1]) and not _is_space(s[k]) and len(s[:k].rstrip()) <= fit
    )
    at_space = next(spaces, 0)
    at_cjk = next((k for k in places if is_cjk(s[k]) or is_cjk(s[k - 1])), 0)
    if at_space or at_cjk:
        return max(at_space, at_cjk)
    for k in places:
        if k >= fit // 2 and s[k - 1] in _SOFT_BREAK_AFTER:
            return k
    return fit


def _split_long(piece: str, width: float, measure: Callable[[str], float]) -> list[str]:
    """Cut a piece wider than the line into parts that fit (see :func:`_best_cut`)."""
    out: list[str] = []
    rest = piece
    while rest and measure(rest.rstrip()) > width:
        fit, used = 0, 0.0
        while fit < len(rest):
            w = measure(rest[fit])
            if fit and used + w > width:
                break
            used += w
            fit += 1
        cut = _best_cut(rest, fit)
        out.append(rest[:cut])
        rest = rest[cut:]
    if rest and out and not rest.strip():
        out[-1] += rest  # trailing spaces stay with the last cut, never a line of their own
    elif rest:
        out.append(rest)
    return out


def wrap(
    text: str,
    width: float,
    measure: Callable[[str], float],
    *,
    first_width: float | None = None,
) -> list[str]:
    """Lines of ``text`` no wider than ``width`` (the first no wider than ``first_width`` if given).

    ``measure`` must be additive (the width of ``a + b`` is the width of ``a`` plus that of ``b``: no
    kerning), which holds for both renderers. Trailing spaces are dropped from each line; an empty
    text gives one empty line.
    """
    lines: list[str] = []
    for para in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        avail = first_width if (first_width is not None and not lines) else width
        line: list[str] = []
        used = 0.0  # width of ``line`` with its trailing spaces
        pieces = segments(para.replace("\t", " "))
        k = 0
        while k < len(pieces):
            piece = pieces[k]
            trimmed = measure(piece.rstrip())
            if used + trimmed <= avail:
                line.append(piece)
                used += measure(piece)
                k += 1
                continue
            if line:
                if "".join(line).strip():
                    lines.append("".join(line).rstrip())
                    avail = width
                line, used = [], 0.0  # (an indent that leaves no room is dropped)
                continue
            # a piece wider than a whole line on its own: cut it, keep its tail for the next line
            parts = _split_long(piece, avail, measure)
            lines.extend(p.rstrip() for p in parts[:-1])
            avail = width
            if len(parts) == 1:  # not even one character fits: place it anyway, alone
                line, used = [piece], avail + 1
                k += 1
            else:
                pieces[k] = parts[-1]
        lines.append("".join(line).rstrip())
    return lines
