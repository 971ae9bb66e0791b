"""Fixtures for the HMA twins: a fresh takeback service per test (HMA resets its tables per test, and
its tests pin content ids from 1), HMA's sample hashes, and HMA's two checkerboard images served over
local HTTP (HMA's ``image_server``).

takeback refuses to fetch from loopback addresses (SSRF), so ``image_server`` holds the one explicit
test-only override, ``takeback.net.fetch.resolve_as_public``: while a twin runs, ``127.0.0.1`` counts
as an allow-listed public host. Without it the same URL is refused (``test_url_guard.py``).
"""

from __future__ import annotations

import functools
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from takeback.net.fetch import resolve_as_public
from takeback.signals.fingerprint import FingerprintOptions, fingerprint_bytes
from tests.web.conftest import Service, running_service

#: the host the image server listens on (allow-listed in every twin's service)
IMAGE_HOST = "127.0.0.1"

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


@pytest.fixture(scope="session")
def _image_files(tmp_path_factory: pytest.TempPathFactory, images: dict[str, bytes]) -> Iterator[str]:
    """HMA's image server: a plain HTTP server on 127.0.0.1 serving image1.jpg and image2.jpg."""
    folder = tmp_path_factory.mktemp("images")
    for name, data in images.items():
        (folder / name).write_bytes(data)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((IMAGE_HOST, 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{IMAGE_HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def image_server(_image_files: str) -> Iterator[str]:
    """HMA's ``image_server`` base URL, fetchable by the service for the test's duration."""
    with resolve_as_public(IMAGE_HOST, IMAGE_HOST):
        yield _image_files


@pytest.fixture(scope="session")
def image_url_to_pdq(_image_files: str, images: dict[str, bytes]) -> dict[str, str]:
    """HMA's ``IMAGE_URL_TO_PDQ``: each served image's PDQ, hashed from the file."""
    out = {}
    for name, data in images.items():
        fp = fingerprint_bytes(data, name=name, options=FingerprintOptions())
        pdq = fp.hex("pdq")
        assert pdq
        out[f"{_image_files}/{name}"] = pdq
    return out


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _pg_template: tuple[str, str] | None,
) -> Iterator[Service]:
    """A service on an empty store, for one test (ids start at 1, as after HMA's table reset).
    ``@pytest.mark.service(**settings)`` changes its settings (HMA's tests patch its config)."""
    marker = request.node.get_closest_marker("service")
    extra = dict(marker.kwargs) if marker else {}
    with running_service(
        request.param,
        tmp_path,
        _sqlite_template,
        _pg_template,
        api_key_cache_seconds=0.5,
        url_allowlist=IMAGE_HOST,
        **extra,
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


def add_url(client: httpx.Client, bank: str, url: str, **body: object) -> httpx.Response:
    """HMA's add: ``POST /c/bank/{bank}/content?url=...&content_type=photo``, a JSON body if given."""
    return client.post(
        f"/c/bank/{bank}/content", params={"url": url, "content_type": "photo"}, json=body or None
    )


def add_hash_to_bank(
    client: httpx.Client, bank: str, url: str, pdq: dict[str, str], content_id: int = 1
) -> None:
    """HMA's helper: 200 and exactly ``{id, signals: {pdq}}``."""
    r = add_url(client, bank, url)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": content_id, "signals": {"pdq": pdq[url]}}
