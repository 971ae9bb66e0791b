"""``takeback match``: match files or hashes against the banks, with reasons."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from takeback.banks.service import get_bank
from takeback.cli import paths
from takeback.cli.app import EXIT_OK, EXIT_SOME_FAILED, app, err_console, usage_error
from takeback.cli.bank_cmd import handled, open_store, pick_format
from takeback.cli.output import Format, JsonlWriter, shown
from takeback.config import get_settings
from takeback.errors import TakebackError
from takeback.matching import Match, Matcher, MatchQuery, MatchResult, open_matcher
from takeback.matching.video_banks import VideoBankMatch, VideoMatcher, combined_status
from takeback.matching.video_banks import status_of as video_status
from takeback.media import Limits
from takeback.media.video import VideoLimits
from takeback.signals import REGISTRY, IndexKind, get_signal_type
from takeback.signals.batch import default_jobs, fingerprint_paths
from takeback.signals.fingerprint import FingerprintOptions
from takeback.signals.vpdq import VpdqOptions, VpdqResult

out = Console(soft_wrap=True, highlight=False)

#: Inputs matched per batched index search.
BATCH = 256

_STATUS = {
    "match": "[bold red]MATCH[/]",
    "allow_listed": "[cyan]allow-listed[/]",
    "no_match": "[green]no match[/]",
    "error": "[red]failed[/]",
}


def _strongest_first(m: Match) -> tuple[bool, int]:
    """Identical bytes before near matches; among exact types the later registered (SHA-256 before
    MD5)."""
    names = list(REGISTRY)
    exact = get_signal_type(m.signal_type).index_kind is IndexKind.EXACT
    return (not exact, -names.index(m.signal_type) if m.signal_type in names else 0)


def _print_result(r: MatchResult, status: str | None = None) -> None:
    q = r.query
    out.print(f"[bold]{shown(q.label)}[/]  {_STATUS[status or r.status]}")
    for name, sv in q.signals.items():  # the perceptual value(s), with their quality
        st = get_signal_type(name)
        if st.has_quality:
            quality = "" if sv.quality is None else f"  quality {sv.quality}"
            low = st.is_low_quality(sv.quality)
            warn = "  [yellow]low quality: matches may be unreliable[/]" if low else ""
            out.print(f"  {name} {sv.value.hex()}{quality}{warn}")
    if q.error:
        out.print(f"  [red]{shown(q.error['code'])}[/]: {shown(q.error['message'])}")
    # One line per bank entry, naming every signal of it that matched (jsonl has one record each).
    groups: dict[tuple[str, int], list[Match]] = {}
    for m in r.matches:
        groups.setdefault((m.bank, m.content_id), []).append(m)
    for ms in sorted(groups.values(), key=lambda g: (not g[0].allow_list, min(m.distance for m in g))):
        first = ms[0]
        hows = []
        for m in sorted(ms, key=_strongest_first):
            if get_signal_type(m.signal_type).index_kind is not IndexKind.EXACT:
                how = f"{m.signal_type} distance {m.distance} <= {m.threshold}"
                if m.orientation and m.orientation != "original":
                    how += f" (query {m.orientation})"
            else:
                how = f"{m.signal_type} identical"
            hows.append(how)
        tag = "  [cyan]allow-list[/]" if first.allow_list else ""
        if first.suppressed_by:
            by = first.suppressed_by
            tag += f"  [dim]suppressed by {shown(by.bank)} #{by.content_id}[/]"
        if any(m.low_quality for m in ms):
            tag += "  [yellow]low quality[/]"
        out.print(f"  {shown(first.bank)} #{first.content_id}  {', '.join(hows)}{tag}")
        if first.note:
            out.print(f"      note: {shown(first.note)}")
        if first.metadata:
            out.print(
                f"      metadata: {shown(json.dumps(first.metadata, ensure_ascii=False, sort_keys=True))}"
            )


_VIDEO_STATUS = {
    "match": "[bold red]VIDEO MATCH[/]",
    "clip": "[bold red]VIDEO CLIP[/] (the video is part of a banked video)",
    "contains": "[bold red]VIDEO CONTAINS[/] (a banked video is part of this one)",
    "allow_listed": "[cyan]video allow-listed[/]",
    "partial": "[yellow]video partly similar[/]",
    "no_match": "[green]video: no match[/]",
}


def _print_video(status: str, matches: list[VideoBankMatch]) -> None:
    out.print(f"  {_VIDEO_STATUS[status]}")
    for m in matches:
        v = m.video
        tag = "  [cyan]allow-list[/]" if m.allow_list else ""
        if m.suppressed_by:
            tag += f"  [dim]suppressed by {shown(m.suppressed_by[0])} #{m.suppressed_by[1]}[/]"
        out.print(
            f"  {shown(m.bank)} #{m.content_id}  vpdq {v.kind}: {v.query_share:.0%} of this video's frames, "
            f"{v.coverage:.0%} of the banked video (its {v.video_span[0]:.1f}-{v.video_span[1]:.1f} s), "
            f"frame distance <= {m.threshold}{tag}"
        )
        if m.note:
            out.print(f"      note: {shown(m.note)}")


def _batched(items: Iterable[MatchQuery], size: int) -> Iterator[list[MatchQuery]]:
    batch: list[MatchQuery] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@app.command("match")
def match_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Images, videos and folders to match (folders are walked recursively).",
            show_default=False,
            parser=paths.walk_input,
        ),
    ] = None,
    pdq: Annotated[list[str] | None, typer.Option("--pdq", help="A PDQ hash to match (repeatable).")] = None,
    md5: Annotated[
        list[str] | None, typer.Option("--md5", help="An MD5 to match exactly (repeatable).")
    ] = None,
    sha256: Annotated[
        list[str] | None, typer.Option("--sha256", help="A SHA-256 to match exactly (repeatable).")
    ] = None,
    bank: Annotated[
        list[str] | None,
        typer.Option("--bank", "-b", help="Only these banks (repeatable). Allow-list banks always apply."),
    ] = None,
    dihedral: Annotated[
        bool, typer.Option("--dihedral", help="Also match rotated and flipped copies (the 8 orientations).")
    ] = False,
    fmt: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="table or jsonl. Default: table on a terminal, jsonl otherwise.",
            case_sensitive=False,
        ),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes for hashing.")
    ] = None,
) -> None:
    """Match images, videos or hashes against the banks; every match says why (signal, distance,
    threshold; for videos the share of frames matched each way, so clips of a banked video show).

    Files are fingerprinted on this computer; only their hashes are compared. Exit status: 0 whether
    or not anything matched, 1 when some inputs could not be hashed, 2 on a usage error.
    """
    if not (paths or pdq or md5 or sha256):
        usage_error("Give files or folders to match, or hashes with --pdq / --md5 / --sha256.")
    if dihedral and not paths:
        usage_error("--dihedral needs images: rotated hashes come from the pixels, not from a --pdq hash.")
    view = pick_format(fmt)
    hash_queries: list[MatchQuery] = []
    try:
        hash_queries.extend(MatchQuery.from_hex(pdq=v) for v in pdq or [])
        hash_queries.extend(MatchQuery.from_hex(md5=v) for v in md5 or [])
        hash_queries.extend(MatchQuery.from_hex(sha256=v) for v in sha256 or [])
    except TakebackError as exc:
        usage_error(f"--{exc.message}")
    settings = get_settings()
    writer = JsonlWriter(sys.stdout) if view is Format.JSONL else None
    failed = total = matched = 0
    with handled():
        db = open_store()
        matcher: Matcher | None = None
        try:
            matcher = open_matcher(db, data_dir=settings.ensure_data_dir())
            for notice in matcher.notices:
                err_console.print(f"[yellow]notice:[/] {shown(notice)}", highlight=False)
            if bank:
                # unknown bank names fail here, naming the banks there are, before any hashing
                db.run(lambda s: [get_bank(s, name=n) for n in bank])
            video = VpdqOptions(limits=VideoLimits.from_settings(settings))  # 1 frame/s + scene cuts
            options = FingerprintOptions(
                dihedral=dihedral, limits=Limits.from_settings(settings), video=video
            )
            videos: dict[str, VpdqResult] = {}
            video_matcher = VideoMatcher(db)

            def queries() -> Iterator[MatchQuery]:
                yield from hash_queries
                if paths:
                    for fp in fingerprint_paths(
                        [str(p) for p in paths], options=options, jobs=jobs or settings.jobs or default_jobs()
                    ):
                        if fp.vpdq is not None:
                            videos[fp.path] = fp.vpdq
                        yield MatchQuery.from_fingerprint(fp)

            for batch in _batched(queries(), BATCH):
                for r in matcher.match(batch, banks=bank):
                    total += 1
                    failed += r.query.error is not None
                    clip = videos.pop(r.query.label, None)
                    found = video_matcher.match(clip, banks=bank) if clip is not None else []
                    v_status = video_status(found)
                    status = combined_status(r.status, v_status)
                    matched += status == "match"
                    if writer is not None:
                        record = r.to_record()
                        record["status"] = status
                        if clip is not None:
                            record["video"] = {
                                "status": v_status,
                                "frames": len(clip.frames),
                                "duration_s": clip.duration_s,
                                "matches": [m.to_record() for m in found],
                            }
                        writer.write(record)
                    else:
                        _print_result(r, status)
                        if clip is not None:
                            _print_video(v_status, found)
        finally:
            if matcher is not None:
                matcher.close()
            db.dispose()
    summary = f"{total} input{'s' if total != 1 else ''}: {matched} matched"
    if failed:
        summary += f", {failed} could not be hashed"
    err_console.print(summary + ".", highlight=False)
    raise typer.Exit(EXIT_SOME_FAILED if failed else EXIT_OK)
