"""Fixtures for the HMA twins: a fresh takeback service per test (HMA resets its tables per test, and
its tests pin content ids from 1), HMA's sample hashes, and HMA's two checkerboard images served over
local HTTP."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.web.conftest import Service, running_service

#: pytx's PdqSignal.get_examples(), in order (HMA's e2e and match tests add these)
PDQ_EXAMPLES = [
    "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f06370a2a038f63f0b36e26d596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f06370a2a068f67f0b36e26d596621e1d33e6339c4e9c9b22",
    "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596221e1d33e6b39c4e9c9b22",
    "f8f8f0cee0f4a84f0e370a22038f67f0b36e2ed596221e1d33e6b39c4a9c9b22",
    "d8f8f0cec0f4a84f8e370a22038f67f0b36a2ed597231e1d72e6b39c4a9c9b22",
    "f8f8f0cee0f4a84f06370a22038f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "d0f8f1ccc0f4a84d0a370a3a228f67f0b36e2ed5b6623e1d33e6339c4e9c9b22",
    "d8f8f1eec0f4a84f0e37022a078f63f0b36e2ed596621e1d33e6239c4e9c9b22",
    "d8f8f0cec4f4a84f0637022a078f67f0b36e2ee5b6621e1d33e6239c4e9c9b22",
    "d8f8f0cec0f4a84f0637022a278f67f0b36e2ed596621e1d33e6339c4e9c9b22",
    "e64cc9d91c623882f8d1f1d9a398e78c9f199b3bd83924f2b7e11e0bf861b064",
    "6227401f601ff4ccafcc9fad4b0d95d371a2eb7265a3285234d228ca94deeb2d",
    "c186f9619659658c4b6916daf934496985f4259c72c39676ab9edb631c3c349c",
    "62c9789627838f69f23cf98c29e37836d61c87c31c59587c4b49a783f496725c",
]
MD5_EXAMPLES = ["cab08b36195edb1a1231d2d09fa450e0", "d41d8cd98f00b204e9800998ecf8427e"]


def checkerboard(cell: int) -> bytes:
    """HMA's test image: 128x128 RGB, white where (x//cell + y//cell) is odd, as JPEG."""
    img = Image.new("RGB", (128, 128))
    px = img.load()
    assert px is not None
    for y in range(128):
        for x in range(128):
            px[x, y] = (255, 255, 255) if (x // cell + y // cell) % 2 else (0, 0, 0)
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def images() -> dict[str, bytes]:
    return {"image1.jpg": checkerboard(8), "image2.jpg": checkerboard(16)}


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _pg_template: tuple[str, str] | None,
) -> Iterator[Service]:
    """A service on an empty store, for one test (ids start at 1, as after HMA's table reset)."""
    with running_service(
        request.param, tmp_path, _sqlite_template, _pg_template, api_key_cache_seconds=0.5
    ) as svc:
        yield svc


@pytest.fixture
def client(fresh: Service) -> httpx.Client:
    """HMA's test client, plus the API key (the one deliberate difference besides SSRF)."""
    return fresh.client(fresh.admin)


def create_bank(client: httpx.Client, name: str) -> None:
    """HMA's helper: 201 and exactly ``{matching_enabled_ratio: 1.0, name}``."""
    r = client.post("/c/banks", json={"name": name})
    assert r.status_code == 201, r.text
    assert r.json() == {"matching_enabled_ratio": 1.0, "name": name}


def add_photo(client: httpx.Client, bank: str, data: bytes, **form: str) -> httpx.Response:
    """HMA's add by URL, as an upload: takeback refuses loopback URLs (SSRF), the one other
    deliberate difference, so the image goes in the ``photo`` field instead."""
    return client.post(f"/c/bank/{bank}/content", files={"photo": ("image.jpg", data)}, data=form or None)
