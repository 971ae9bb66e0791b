"""``takeback hash``: fingerprint files and folders."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from takeback.cli import paths
from takeback.cli.app import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    app,
    err_console,
    stdout_is_terminal,
    usage_error,
)
from takeback.cli.output import CsvWriter, Format, JsonlWriter, quality_note, shown
from takeback.config import get_settings
from takeback.media import Limits
from takeback.media.video import VideoLimits
from takeback.signals.batch import default_jobs, fingerprint_paths
from takeback.signals.fingerprint import Fingerprint, FingerprintOptions
from takeback.signals.pdq import DIHEDRAL_NAMES, LOW_QUALITY
from takeback.signals.vpdq import DEFAULT_INTERVAL, VpdqOptions

out = Console(soft_wrap=True)

FIELDS = ["path", "size", "media_type", "sha256", "md5", "pdq", "pdq_quality", "error"]
#: CSV columns for what only some files have (JSON Lines carries them only where they apply)
BORDER_VIDEO_FIELDS = [
    "pdq_cropped",
    "pdq_cropped_quality",
    "border",
    "vpdq_frames",
    "vpdq_cropped_frames",
    "duration_s",
    "frame_count",
    "partial",
]


_SHOW_FRAMES = 5


def _print_block(fp: Fingerprint, dihedral: bool) -> None:
    """Human output: one block per file, hashes in full (64 hex characters fit any terminal)."""
    rec = fp.to_record(dihedral=True)
    if fp.error:
        status = f"[red]{fp.error['code']}[/] {fp.error['message']}"
    elif fp.partial:
        status = f"[yellow]partly hashed[/] ({fp.partial['code']}) {fp.partial['message']}"
    elif rec["pdq_quality"] is not None and rec["pdq_quality"] < LOW_QUALITY:
        status = "[yellow]hashed, low quality[/] (PDQ is unreliable below 50)"
    else:
        status = "[green]hashed[/]"
    out.print(f"[bold]{shown(fp.path)}[/]", highlight=False, soft_wrap=True)
    size = "" if fp.size is None else f"{fp.size:,} bytes"
    out.print(f"  {fp.media_type or 'unknown type'}  {size}  {status}", highlight=False, soft_wrap=True)
    if rec["pdq"]:
        out.print(f"  pdq     {rec['pdq']}  {quality_note(rec['pdq_quality'])}", highlight=False)
    if dihedral and rec["pdq_dihedral"]:
        for name, h in zip(DIHEDRAL_NAMES[1:], rec["pdq_dihedral"][1:], strict=True):
            out.print(f"    {name:<11} {h}", highlight=False)
    if rec.get("pdq_cropped"):
        out.print(
            f"  inside border {fp.border}: pdq {rec['pdq_cropped']}  "
            f"{quality_note(rec['pdq_cropped_quality'])}",
            highlight=False,
        )
    if fp.vpdq_frames is not None:
        out.print(
            f"  vpdq    {len(fp.vpdq_frames)} frame hashes over {fp.duration_s or 0:.1f} s "
            f"({fp.frame_count:,} frames); frame,quality,hash,timestamp:",
            highlight=False,
        )
        for line in fp.vpdq_frames[:_SHOW_FRAMES]:
            out.print(f"    {line}", highlight=False)
        if len(fp.vpdq_frames) > _SHOW_FRAMES:
            out.print(f"    ... {len(fp.vpdq_frames) - _SHOW_FRAMES} more (--format jsonl lists all)")
        if fp.vpdq_cropped_frames:
            out.print(f"    and {len(fp.vpdq_cropped_frames)} hashed inside the border {fp.border}")
    if rec["sha256"]:
        out.print(f"  sha256  {rec['sha256']}", highlight=False)
        out.print(f"  md5     {rec['md5']}", highlight=False)


def _inspect_record(path: str, limits: Limits) -> dict[str, Any]:
    """Provenance findings for ``--inspect``, run in the hashing workers (the file is read again: it
    is still in the OS cache)."""
    from takeback.analysis.provenance import InspectOptions, inspect

    return inspect(path, options=InspectOptions(limits=limits)).to_record()


@app.command("hash")
def hash_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files and folders to fingerprint (folders are walked recursively).",
            show_default=False,
            parser=paths.walk_input,
        ),
    ],
    dihedral: Annotated[
        bool, typer.Option("--dihedral", help="Also give the 8 PDQ hashes of the image rotated and flipped.")
    ] = False,
    with_inspect: Annotated[
        bool,
        typer.Option("--inspect", help="Add provenance findings (as `takeback inspect`) to each record."),
    ] = False,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format. Default: table on a terminal, jsonl otherwise.",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    video_interval: Annotated[
        float,
        typer.Option(
            "--video-interval",
            min=0.0,
            help="Videos: seconds between sampled frames (plus scene cuts). 0 hashes every distinct "
            "frame, as banks store them.",
        ),
    ] = DEFAULT_INTERVAL,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", min=1, help="Worker processes. Default: one per CPU core.", show_default=False
        ),
    ] = None,
) -> None:
    """Fingerprint files: SHA-256, MD5 and PDQ (the perceptual hash used by hash-sharing programmes);
    videos and animations get vPDQ (a PDQ hash per sampled frame, with quality and timestamp).

    Files are read on this computer only; nothing is uploaded. Exit status: 0 when every file was
    hashed, 1 when some could not be, or only in part (each gets a record with an ``error`` or a
    ``partial`` note), 2 on a usage error.
    """
    if not paths:
        usage_error("Give at least one file or folder.")
    settings = get_settings()
    fmt = fmt or (Format.TABLE if stdout_is_terminal() else Format.JSONL)
    n_jobs = jobs or settings.jobs or default_jobs()
    options = FingerprintOptions(
        dihedral=dihedral,
        limits=Limits.from_settings(settings),
        video=VpdqOptions(interval=video_interval, limits=VideoLimits.from_settings(settings)),
    )
    extra = (["pdq_dihedral"] if dihedral else []) + (["inspect"] if with_inspect else [])
    fields = FIELDS[:-1] + extra + BORDER_VIDEO_FIELDS + ["error"]

    writer: JsonlWriter | CsvWriter | None = None
    if fmt is Format.JSONL:
        writer = JsonlWriter(sys.stdout)
    elif fmt is Format.CSV:
        writer = CsvWriter(sys.stdout, fields)

    failed = total = 0
    show_progress = err_console.is_terminal
    progress = Progress(
        TextColumn("hashing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[bad]} failed"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("hash", total=None, bad=0)
        analyse = functools.partial(_inspect_record, limits=options.limits) if with_inspect else None
        for fp in fingerprint_paths([str(p) for p in paths], options=options, jobs=n_jobs, analyse=analyse):
            total += 1
            if fp.error or fp.partial:
                failed += 1
            progress.update(task, advance=1, bad=failed)
            found = fp.analysis
            if writer is None:
                _print_block(fp, dihedral)
                if found is not None:
                    out.print(f"  inspect {shown(found['headline'])}", highlight=False, soft_wrap=True)
            else:
                record = fp.to_record(dihedral=dihedral)
                if found is not None:
                    record.pop("error")
                    record.update(inspect=found, error=fp.error)
                writer.write(record)
    if writer is not None:
        writer.close()
    if failed:
        err_console.print(
            f"{total - failed} of {total} files hashed; {failed} could not be (or only in part).",
            highlight=False,
        )
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)
