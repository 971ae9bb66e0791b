"""Measure every PDF takeback writes, in English and Traditional Chinese: size, pages, render time.

The real commands run in-process against a fresh data dir (``guide --format pdf``, ``case notice
-f pdf`` for each kind, ``evidence bundle`` with its ``summary.pdf``, ``scan`` with its
``report.pdf``); each :class:`~takeback.reports.Document` they hand to the PDF renderer is kept. Then
each document is rendered again ``--repeat`` times: ``first`` is the render inside the command (the
first one in the process pays for imports and font loading), ``median`` the steady cost per document.
Every PDF is written to ``--out`` (default: a temporary folder) so that it can be looked at, e.g.
``pdftoppm -r 60 -png OUT/guide-zh-Hant.pdf page``.

Example: ``.venv/bin/python benchmarks/bench_pdf.py --out /tmp/pdfs``
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import takeback.reports  # noqa: E402
import takeback.reports.pdf as pdfmod  # noqa: E402

#: (label, Document, seconds, bytes) of every render the commands asked for
RENDERS: list[tuple[str, Any, float, bytes]] = []
_label = ["?"]
_render = pdfmod.render_pdf


def _recording_render(doc: Any, out: BinaryIO | Path) -> None:
    buf = io.BytesIO()
    t0 = time.perf_counter()
    _render(doc, buf)
    dt = time.perf_counter() - t0
    data = buf.getvalue()
    RENDERS.append((_label[0], doc, dt, data))
    if isinstance(out, Path):
        out.write_bytes(data)
    else:
        out.write(data)


# The commands import ``render_pdf`` by name: patch both places before they are imported.
pdfmod.render_pdf = _recording_render  # type: ignore[assignment]
takeback.reports.render_pdf = _recording_render  # type: ignore[assignment]

import typer  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from pypdf import PdfReader  # noqa: E402
from tests.conftest import encode, synthetic_photo  # noqa: E402
from tests.triage import scenes  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, help="folder for the PDFs (default: a temporary one)")
    ap.add_argument("--repeat", type=int, default=3, help="re-renders per document for the median")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_pdf_"))
    out_dir = args.out or work / "pdfs"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "TAKEBACK_DATA_DIR": str(work / "data"),
        "TAKEBACK_LOCKER_PASSPHRASE": "correct horse battery staple",
        "TAKEBACK_ACTOR": "caseworker-ana",
        "TZ": "Asia/Hong_Kong",
        "COLUMNS": "200",
    }
    for k in [k for k in os.environ if k.startswith("TAKEBACK_")]:
        del os.environ[k]
    os.environ.update(env)
    from takeback.cli.main import full_app
    from takeback.config import get_settings

    get_settings.cache_clear()
    command = typer.main.get_command(full_app())
    runner = CliRunner()
    zips: dict[str, int] = {}

    def tb(label: str, *argv: str) -> str:
        _label[0] = label
        r = runner.invoke(command, list(argv), env=env, catch_exceptions=False)
        if r.exit_code not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} failed ({r.exit_code}): {r.output}")
        return r.output

    for lang in ("en", "zh-Hant"):
        tb(
            f"guide-{lang}",
            *("guide", "-j", "HK", "--facts", "created,shared,threatened", "--setting", "university"),
            *("--act-date", "2026-03-01", "--lang", lang, "-f", "pdf", "-o", str(work / "g.pdf")),
        )
    r = tb(
        "case",
        *("case", "new", "-j", "HK", "--setting", "university", "--incident-date", "2026-03-01"),
        *("--consent", "hashing,referral", "--alias", "student A"),
    )
    ref = r.split("Case ", 1)[1].split(" ", 1)[0]
    shot = work / "screenshot.jpg"
    shot.write_bytes(encode(synthetic_photo(640, 480, seed=5), "JPEG", quality=90))
    tb("add", "evidence", "add", "--case", ref, str(shot), "--platform", "Telegram", "--account", "@poster")
    tb("add", "evidence", "add", "--case", ref, "--url", "https://lihkg.example/thread/1", "--no-fetch")
    tb(
        "takedown",
        "case",
        "takedown",
        "--case",
        ref,
        "--url",
        "https://t.example/c/1",
        "--platform",
        "Telegram",
    )
    sign = ("--name", "Jane Doe", "--contact", "jane@example.org", "--signature", "/s/ Jane Doe")
    for kind in ("take-it-down", "hk-police", "hk-pcpd", "hk-eoc"):
        for lang in ("en", "zh-Hant"):
            tb(
                f"notice-{kind}-{lang}",
                *("case", "notice", "--case", ref, "--kind", kind, "--lang", lang, *sign),
                *("-f", "pdf", "-o", str(work / "n.pdf")),
            )
    for lang in ("en", "zh-Hant"):
        z = work / f"bundle-{lang}.zip"
        tb(f"bundle-{lang}", "evidence", "bundle", "--case", ref, "--out", str(z), "--lang", lang)
        zips[f"bundle-{lang}"] = z.stat().st_size
        with zipfile.ZipFile(z) as zf:
            zips[f"bundle-{lang} summary.pdf (in zip)"] = zf.getinfo("summary.pdf").file_size
    seized = work / "seized"
    scenes.write_case(seized, people=2, photos=2, size=(400, 300))
    for lang in ("en", "zh-Hant"):
        case_dir = work / f"scan-{lang}"
        tb(
            f"scan-{lang}",
            "scan",
            str(seized),
            "--case",
            str(case_dir),
            "-j",
            "1",
            "--no-nudity",
            "--lang",
            lang,
        )

    print(f"machine: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"renderer: {pdfmod.__doc__.splitlines()[0] if pdfmod.__doc__ else '?'}")
    print()
    print("| document | pages | size (bytes) | first render (s) | median render (s) |")
    print("|---|---|---|---|---|")
    seen: dict[str, int] = {}
    for label, doc, first, data in RENDERS:
        n = seen.get(label, 0)
        seen[label] = n + 1
        name = label if n == 0 else f"{label}-{n}"
        (out_dir / f"{name}.pdf").write_bytes(data)
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            _render(doc, io.BytesIO())
            times.append(time.perf_counter() - t0)
        pages = len(PdfReader(io.BytesIO(data)).pages)
        print(f"| {name} | {pages} | {len(data):,} | {first:.3f} | {statistics.median(times):.3f} |")
    print()
    for name, size in zips.items():
        print(f"{name}: {size:,} bytes")
    print(f"\nPDFs in {out_dir}")


if __name__ == "__main__":
    main()
