"""A small scan case for review tests (service and web): two people's folders of synthetic photos
and AI-made derivatives, a damaged JPEG, a ZIP holding a photo and a short video; benign only."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from takeback.evidence.signing import Signer
from takeback.triage import service
from takeback.triage.models import ScanSettings
from takeback.triage.pipeline import RunOptions
from tests.conftest import encode, synthetic_photo
from tests.triage import scenes
from tests.triage.test_video import _clip


def make_sources(root: Path) -> Path:
    """Two people's folders (a camera photo and three AI-made derivatives each), a damaged JPEG, a
    ZIP holding a photo, and a short video: 11 images and videos in all."""
    scenes.write_case(root, people=2, photos=1, size=(320, 240))
    full = encode(synthetic_photo(200, 150, seed=9), "JPEG")
    (root / "misc").mkdir()
    (root / "misc" / "cut.jpg").write_bytes(full[: len(full) // 3])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("album/kept.jpg", encode(synthetic_photo(240, 180, seed=11), "JPEG"))
    (root / "misc" / "backup.zip").write_bytes(buf.getvalue())
    _clip(root / "misc" / "clip.mp4", seed=3, frames=20)
    return root


def scan_case(signer: Signer, case: Path, sources: list[Path], **opts: Any) -> None:
    """``takeback scan`` through its service (no nudity model, no banks), with its outputs."""
    settings = ScanSettings(nudity=False, match_banks=False)
    run = RunOptions(signer=signer, examiner="officer-1", **opts)
    case_db, _ = service.scan(case, [str(s) for s in sources], settings=settings, run=run)
    try:
        service.write_outputs(case_db, lang="en", reveal=False, signer=signer, actor="officer-1")
    finally:
        case_db.close()
