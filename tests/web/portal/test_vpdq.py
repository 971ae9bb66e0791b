"""A video's vPDQ sent from the portal page (the browser's text form) is banked as the entry's vpdq
signal, so a lookup of the same video matches; bad vPDQ text is refused with a message per file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from takeback.portal import service as ps
from takeback.signals.vpdq import VpdqOptions, pack, parse_text, vpdq_from_video
from tests.web.conftest import Service
from tests.web.portal.test_pages import _opened, _submit


def _video(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    # what the browser sends: about one frame a second, in takeback's reference text form
    text = vpdq_from_video(path).text().strip()
    return {
        "kind": "video",
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data).hexdigest(),
        "size": len(data),
        "vpdq": text,
    }


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> Path:
    path = shared_data / "video" / "chair-orig-22-sd-bar.mp4"
    if not path.is_file():
        pytest.skip("sample video missing")
    return path


def test_submitted_vpdq_is_banked_and_a_lookup_of_the_video_matches(service: Service, clip: Path) -> None:
    f = _video(clip)
    _opened(_submit(service.client(), [f], consent_block="yes", jurisdiction="HK"))
    lookup = service.client(service.admin)
    # a lookup with another sampling of the same video (every frame, as a platform might hash it)
    query = vpdq_from_video(clip, options=VpdqOptions(interval=0)).text()
    hit = lookup.get("/m/raw_lookup", params={"signal_type": "vpdq", "signal": query}).json()
    assert hit["matches"], hit


def test_parse_files_checks_vpdq_with_takebacks_parser(clip: Path) -> None:
    f = _video(clip)
    parsed = ps.parse_files([f], max_files=5)[0]
    assert parsed.vpdq == pack(parse_text(f["vpdq"]))
    line = f["vpdq"].splitlines()[0]
    n, q, h, t = line.split(",")
    for bad, words in [
        ({**f, "vpdq": f"{n},{q},{h[:-2]},{t}"}, "64 hex"),
        ({**f, "vpdq": f"{n},101,{h},{t}"}, "quality"),
        ({**f, "vpdq": "just some words"}, "frame,quality,hash,timestamp"),
        ({**f, "vpdq": ""}, "frame lines"),
        ({**f, "vpdq": 7}, "frame,quality,hash,timestamp"),
        ({**f, "vpdq": "\n".join([line] * (ps.MAX_VPDQ_FRAMES + 1))}, f"{ps.MAX_VPDQ_FRAMES:,}"),
        ({**f, "kind": "photo"}, "only a video"),
    ]:
        with pytest.raises(ps.PortalError) as e:
            ps.parse_files([f, bad], max_files=5)
        assert e.value.code == "invalid_signal"
        assert e.value.message.startswith("file 2 vpdq:") and words in e.value.message, e.value.message


def test_bad_vpdq_is_refused_on_the_page_with_a_message(service: Service, clip: Path) -> None:
    f = _video(clip)
    r = _submit(service.client(), [{**f, "vpdq": "0,100,zz,0.000"}], consent_block="yes")
    assert r.status_code == 400
    assert "file 1 vpdq" in r.text
