"""``takeback inspect``: provenance findings (and optionally nudity scores) per file."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from takeback.analysis.provenance import Finding, Findings, InspectOptions, inspect
from takeback.cli import paths
from takeback.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, err_console, stdout_is_terminal, usage_error
from takeback.cli.output import JsonlWriter, shown
from takeback.config import get_settings
from takeback.errors import TakebackError
from takeback.media import Limits, MediaError
from takeback.media.walk import WalkError, iter_files

out = Console(soft_wrap=True, highlight=False)


class InspectFormat(StrEnum):
    """Findings are nested, so CSV cannot hold them: a table for people, JSON Lines for tools."""

    TABLE = "table"
    JSONL = "jsonl"


_TIER_STYLE = {1: "bold magenta", 2: "bold cyan", 3: "yellow", 4: "dim"}


def _sensitive_note(f: Finding) -> str:
    chars = sum(len(e.value) for e in f.evidence if isinstance(e.value, str))
    return f"prompt/metadata text hidden: sensitive, {chars:,} characters (--show-sensitive prints it)"


def _print_finding(f: Finding, show_sensitive: bool) -> None:
    style = _TIER_STYLE.get(int(f.tier), "")
    status = f"  [red]error {shown(f.error.code)}[/]: {shown(f.error.message)}" if f.error else ""
    out.print(
        f"  [{style}]T{int(f.tier)}[/] {shown(f.kind):<32} {shown(f.summary)}"
        + (f"  (confidence {f.confidence:.2f})" if f.error is None else "")
        + status
    )
    for e in f.evidence[:3]:
        where = (
            e.source
            + (f" '{e.field}'" if e.field else "")
            + (f" at byte {e.offset:,}" if e.offset is not None else "")
        )
        out.print(f"       evidence: {shown(where)}")
    if f.sensitive and not show_sensitive:
        out.print(f"       [dim]{_sensitive_note(f)}[/]")
    elif f.sensitive:
        for e in f.evidence:
            if isinstance(e.value, str):
                out.print(f"       [dim]{e.field}:[/] {shown(e.value)}")
    if f.error is None:
        out.print(f"       [dim]fragility: {shown(f.fragility)}[/]")


def _print_block(rec: Findings, nudity: dict[str, Any] | None, show_sensitive: bool) -> None:
    out.print(f"[bold]{shown(rec.name)}[/]")
    size = "" if rec.size is None else f"{rec.size:,} bytes"
    dims = f"{rec.width}x{rec.height}" if rec.width and rec.height else ""
    head = rec.headline()
    colour = "red" if rec.error else ("green" if head == "no provenance found" else "bold")
    out.print(f"  {shown(rec.media_type or 'unknown type')}  {size}  {dims}  [{colour}]{shown(head)}[/]")
    if rec.error is None:
        out.print(f"  [dim]checked: {', '.join(rec.checks)}[/]")
    for f in sorted(rec.findings, key=lambda f: (f.tier, f.error is not None)):
        _print_finding(f, show_sensitive)
    if nudity is not None:
        if "error" in nudity:
            out.print(f"  nudity: [red]{shown(nudity['error']['message'])}[/]")
        else:
            labels = ", ".join(f"{d['label']} {d['score']:.2f}" for d in nudity["detections"]) or "no labels"
            flag = "[bold red]explicit[/]" if nudity["explicit"] else "not explicit"
            out.print(f"  nudity ({nudity['model']}): score {nudity['score']:.2f}, {flag}; {shown(labels)}")


def _nudity_record(path: str, limits: Limits) -> dict[str, Any]:
    from takeback.analysis.nudity import default_detector

    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_file_bytes + 1)
        return default_detector().detect_bytes(data, limits=limits).model_dump(mode="json")
    except MediaError as exc:
        return {"error": exc.to_dict()}
    except OSError as exc:
        return {
            "error": {"code": "read_error", "message": f"Could not read the file: {exc.strerror or exc}."}
        }
    except TakebackError as exc:
        return {"error": exc.to_dict()}


@app.command("inspect")
def inspect_command(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Files and folders to inspect (folders are walked recursively).",
            show_default=False,
            parser=paths.walk_input,
        ),
    ],
    fmt: Annotated[
        InspectFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format. Default: table on a terminal, jsonl otherwise.",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    watermarks: Annotated[
        bool,
        typer.Option(
            "--watermarks/--no-watermarks",
            help="Decode open invisible watermarks (SD 1/2, SDXL, FLUX); needs a full pixel decode.",
        ),
    ] = True,
    nudity: Annotated[
        bool, typer.Option("--nudity", help="Also score nudity with NudeNet, to order review.")
    ] = False,
    trust_anchors: Annotated[
        Path | None,
        typer.Option(
            "--trust-anchors",
            help="A PEM file of extra C2PA trust anchors, used beside the shipped C2PA trust lists.",
            show_default=False,
            parser=paths.input_file,
        ),
    ] = None,
    show_sensitive: Annotated[
        bool,
        typer.Option("--show-sensitive", help="Print prompt text in the table (it may name the person)."),
    ] = False,
) -> None:
    """Explain whether files carry evidence of AI generation: C2PA credentials, IPTC/XMP source types,
    generator metadata (AUTOMATIC1111/Forge, ComfyUI, NovelAI, InvokeAI), invisible watermarks and weak
    consistency signals, each with the bytes it came from and how fragile it is.

    No finding means "no provenance found", never "authentic". JSONL records include prompt text
    verbatim (marked sensitive). Exit status: 0 when every file was inspected, 1 when some could not
    be read, 2 on a usage error.
    """
    if not paths:
        usage_error("Give at least one file or folder.")
    fmt = fmt or (InspectFormat.TABLE if stdout_is_terminal() else InspectFormat.JSONL)
    settings = get_settings()
    limits = Limits.from_settings(settings)
    anchors = None
    if trust_anchors is not None:
        try:
            anchors = trust_anchors.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            usage_error(f"Could not read the trust anchors file {trust_anchors}: {exc}.")
        if "-----BEGIN CERTIFICATE-----" not in anchors:
            usage_error(f"{trust_anchors} holds no PEM certificate.")
    options = InspectOptions(watermarks=watermarks, limits=limits, trust_anchors_pem=anchors)
    writer = JsonlWriter(sys.stdout) if fmt is InspectFormat.JSONL else None
    failed = total = 0
    for entry in iter_files([str(p) for p in paths]):
        total += 1
        if isinstance(entry, WalkError):
            from takeback.analysis.provenance.models import FindingError

            rec = Findings(name=entry.path, error=FindingError(code=entry.code, message=entry.message))
            nud = None
        else:
            rec = inspect(entry, options=options)
            nud = _nudity_record(entry, limits) if nudity and rec.error is None else None
        if rec.error is not None:
            failed += 1
        if writer is not None:
            record = rec.to_record()
            if nudity:
                record["nudity"] = nud
            writer.write(record)
        else:
            _print_block(rec, nud, show_sensitive)
    if writer is not None:
        writer.close()
    if failed:
        err_console.print(
            f"{total - failed} of {total} files inspected; {failed} could not be.", highlight=False
        )
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)
