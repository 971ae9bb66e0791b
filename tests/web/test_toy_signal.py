"""Issue 13 §1's proof: a new signal type is one module plus its registration.

``tests/signals/toy.py`` declares a type nothing in ``src`` has heard of; registered, it is
computed by the one hashing entry point, stored in a bank (from an upload and from a bare value),
matched over HTTP (HMA's lookups, ``/v1/match`` with an upload, ``/v1/match/batch``), and exported
and imported back exactly, in JSON Lines and CSV.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from takeback.banks.models import EXPORT_FIELDS, export_fields
from takeback.banks.service import iter_contents
from takeback.banks.transfer import TransferFormat, read_import, write_export
from takeback.signals import REGISTRY, register, unregister
from takeback.signals.fingerprint import fingerprint_bytes
from tests.conftest import encode, synthetic_photo
from tests.signals.toy import ToySignal
from tests.web.conftest import running_service


@pytest.fixture
def toy_signal() -> Iterator[ToySignal]:
    toy = ToySignal()
    register(toy)
    try:
        yield toy
    finally:
        unregister(toy.name)


def blake(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def test_a_registered_type_hashes_banks_matches_over_http_and_exports(
    toy_signal: ToySignal, tmp_path: Path, _sqlite_template: Path
) -> None:
    name = toy_signal.name
    banked, other = (encode(synthetic_photo(320, 240, seed=s), "PNG") for s in (41, 42))

    # Hashed by the one entry point (streamed with SHA-256 and MD5), in the record at the edge.
    fp = fingerprint_bytes(banked)
    assert fp.signals[name].value.hex() == blake(banked) == fp.to_record()[name]

    with running_service("sqlite", tmp_path, _sqlite_template, None) as svc:
        c = svc.client(svc.admin)
        r = c.post("/h/hash", params={"types": name}, files={"photo": ("a.png", banked, "image/png")})
        assert r.status_code == 200 and r.json() == {name: blake(banked)}, r.text

        # Banked from an upload (the type asked for by name, as HMA's extension allows) ...
        bank = svc.bank("toy")
        r = c.post(
            f"/c/bank/{bank}/content", params={"types": name}, files={"photo": ("a.png", banked, "image/png")}
        )
        assert r.status_code == 200, r.text
        from_upload = r.json()["id"]
        # ... and from a bare value.
        r = c.post(f"/c/bank/{bank}/signal", json={name: blake(other)})
        assert r.status_code == 200, r.text
        from_value = r.json()["id"]

        # Matched over HTTP: through the store's exact index, as the type's index_kind says.
        r = c.get("/m/lookup", params={"signal_type": name, "signal": blake(banked)})
        assert r.json() == {bank: [{"bank_content_id": from_upload, "distance": "-"}]}
        r = c.get("/m/raw_lookup", params={"signal_type": name, "signal": blake(other)})
        assert r.json() == {"matches": [from_value]}
        body = c.post("/v1/match", files={"photo": ("b.png", other, "image/png")}).json()
        assert body["status"] == "match" and body[name] == blake(other)
        assert [(m["signal_type"], m["content_id"], m["explanation"]) for m in body["matches"]] == [
            (name, from_value, f"identical {name}: entry {from_value} of bank {bank}")
        ]
        body = c.post(
            "/v1/match/batch", json={"signal_type": name, "hashes": [blake(banked), "00" * 8]}
        ).json()
        assert [item["status"] for item in body["results"]] == ["match", "no_match"]
        assert body["results"][0]["matches"][0]["content_id"] == from_upload
        bad = c.post("/v1/match/batch", json={"signal_type": name, "hashes": ["abc"]}).json()
        assert bad["results"][0]["error"]["code"] == "invalid_signal"  # validated by the type

        # Exported with a column of its own, and imported back exactly.
        assert name in export_fields() and name not in EXPORT_FIELDS  # the built-in fields stay as they were
        for fmt in TransferFormat:
            out = io.StringIO()
            with svc.db.session() as s:
                write_export(iter_contents(s, bank_name=bank), out, fmt)
            entries = read_import(io.BytesIO(out.getvalue().encode()), fmt=fmt, source="toy")
            values = {v.value.hex() for e in entries for v in e.signals if v.signal_type == name}
            assert values == {blake(banked), blake(other)}, fmt
            if fmt is TransferFormat.JSONL:
                records = [json.loads(line) for line in out.getvalue().splitlines()]
                assert all(list(rec) == list(export_fields()) for rec in records)
    unregister(name)
    assert list(REGISTRY) == ["pdq", "md5", "sha256", "vpdq"]
