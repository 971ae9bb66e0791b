"""A Traditional Chinese web font for the portal, served by takeback itself.

Why: a page must read on any device, and a phone or library computer without Chinese fonts shows
boxes; the portal may fetch nothing from another host (no font CDN). The font is the Noto Sans TC
that PDFs already embed (OFL-1.1, from the ``pylopdf-fonts-zh-tw`` package), cut down to what the
portal can show: every character of Big5 level 1 (the 5,401 common characters of Traditional Chinese,
plus Big5's symbols and punctuation), everything in the zh-Hant catalogue and the guidance
knowledge base. That is ~1.5 MB as WOFF instead of 11.7 MB. The CSS lists it after the device's own
Chinese fonts, with a ``unicode-range``, so a browser that has Chinese fonts never downloads it.

The subset is made once per installed version (about 11 s of one core) into the user's cache folder
(``platformdirs.user_cache_dir``; the data dir's ``cache`` if that is not writable), never committed
(it is derived from the installed font), under a file lock so two workers do not both make it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from pathlib import Path

from takeback import __version__

_LOCK = threading.Lock()
FONT_KEY = "cjk"


def _big5_common() -> set[str]:
    out: set[str] = set()
    seconds = [*range(0x40, 0x7F), *range(0xA1, 0xFF)]
    for first in range(0xA1, 0xC7):  # symbols (A1-A3) and level 1 hanzi (A4-C6)
        for second in seconds:
            try:
                out.add(bytes([first, second]).decode("big5"))
            except UnicodeDecodeError:
                continue
    return out


def _package_texts() -> set[str]:
    from takeback import i18n
    from takeback.guidance import kb

    chars: set[str] = set()
    for m in i18n.catalog("zh-Hant"):
        if m.id and isinstance(m.string, str):
            chars.update(m.string)
    for path in (Path(kb.__file__).parent / "data").glob("*.yaml"):
        chars.update(path.read_text("utf-8"))
    return chars


def charset() -> str:
    wanted = _big5_common() | _package_texts()
    return "".join(sorted(c for c in wanted if ord(c) >= 0x2000))


def _cache_folder(data_dir: Path) -> Path:
    from platformdirs import user_cache_dir

    for folder in (Path(user_cache_dir("takeback", appauthor=False)) / "fonts", data_dir / "cache" / "fonts"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    raise OSError("no writable cache folder for the portal font")


def font_file(data_dir: Path) -> Path:
    """The subset font (made now if this installation has none yet)."""
    from takeback.reports.pdf import font_path

    source = font_path(FONT_KEY)
    text = charset()
    digest = hashlib.sha256(f"{__version__}|{source.stat().st_size}|{text}".encode()).hexdigest()[:16]
    folder = _cache_folder(data_dir)
    out = folder / f"portal-tc-{digest}.woff"
    if out.exists():
        return out
    with _LOCK, open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.exists():
            return out
        from fontTools import subset

        opts = subset.Options()
        opts.flavor = "woff"
        opts.layout_features = ["*"]
        opts.notdef_outline = True
        font = subset.load_font(str(source), opts)
        sub = subset.Subsetter(opts)
        sub.populate(text=text)
        sub.subset(font)
        tmp = folder / f".{out.name}.{os.getpid()}.tmp"
        subset.save_font(font, str(tmp), opts)
        os.replace(tmp, out)
        for old in folder.glob("portal-tc-*.woff"):
            if old != out:
                old.unlink(missing_ok=True)
    return out


def warm_in_background(data_dir: Path) -> None:
    """Make the font at start-up, off the request path (a first visitor should not wait 11 s)."""

    def work() -> None:
        try:
            font_file(data_dir)
        except Exception:
            import logging

            logging.getLogger("takeback.web").warning("portal font could not be made", exc_info=True)

    threading.Thread(target=work, name="takeback-portal-font", daemon=True).start()
