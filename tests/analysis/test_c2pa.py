"""C2PA: the public conformance files, and manifests signed here (valid, tampered, untrusted, trusted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from takeback.analysis.provenance import InspectOptions, Tier, inspect
from takeback.analysis.provenance.credentials import shipped_anchors, trust_sources
from tests.analysis.c2pa_helpers import AI_SOURCE, make_chain, sign_jpeg
from tests.conftest import encode, synthetic_photo

EXPECTED = {
    "adobe-20220124-A.jpg": None,
    "adobe-20220124-I.jpg": None,
    "adobe-20220124-C.jpg": "untrusted_signer",
    "adobe-20220124-CA.jpg": "untrusted_signer",
    "adobe-20220124-CAI.jpg": "untrusted_signer",
    "adobe-20220124-E-dat-CA.jpg": "tampered",
    "adobe-20220124-E-sig-CA.jpg": "tampered",
    "adobe-20220124-E-uri-CA.jpg": "tampered",
    "adobe-20220124-XCA.jpg": "tampered",
    # The 2023 reference tool read this camera file as valid; today's validator rejects its data-hash
    # exclusion placement. That is reported as "did not validate", not as tampering.
    "truepic-20230212-camera.jpg": "invalid",
}


@pytest.fixture(scope="module")
def c2pa_dir(shared_data: Path) -> Path:
    d = shared_data / "c2pa"
    if not d.is_dir():
        pytest.skip("no C2PA conformance files")
    return d


def manifest(found):  # type: ignore[no-untyped-def]
    hits = [f for f in found.findings if f.kind == "c2pa.manifest"]
    return hits[0] if hits else None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_conformance_files(c2pa_dir: Path, name: str) -> None:
    found = inspect(c2pa_dir / name, options=InspectOptions(watermarks=False))
    f = manifest(found)
    if EXPECTED[name] is None:
        assert f is None and found.headline() == "no provenance found"
        return
    assert f is not None and f.error is None and f.tier == Tier.CRYPTOGRAPHIC
    assert f.details["validation"] == EXPECTED[name]
    report_path = c2pa_dir / name.replace(".jpg", ".manifest_store.json")
    report = json.loads(report_path.read_text())
    ref_active = report["manifests"][report["active_manifest"]]
    # Same signer and claim generator as the reference tool printed.
    assert f.details["signer"]["issuer"] == ref_active["signature_info"]["issuer"]
    assert f.details["claim_generator"].startswith(ref_active["claim_generator"].split("/")[0])
    ours = {x["code"] for x in f.details["failures"]}
    for ref in report.get("validation_status") or []:
        if ref["code"] in {
            "claimSignature.mismatch",
            "assertion.dataHash.mismatch",
            "assertion.hashedURI.mismatch",
        }:
            assert ref["code"] in ours
    if EXPECTED[name] == "untrusted_signer":
        assert "valid signature, signer not on the trust list" in f.summary
        assert f.forgeable  # anyone can mint an untrusted certificate
    if EXPECTED[name] == "tampered":
        assert "TAMPERED" in f.summary
    assert f.evidence[0].source == "c2pa:manifest_store" and isinstance(f.evidence[0].value, dict)


@pytest.fixture(scope="module")
def chain():  # type: ignore[no-untyped-def]
    return make_chain()


@pytest.fixture(scope="module")
def signed(chain) -> bytes:  # type: ignore[no-untyped-def]
    return sign_jpeg(encode(synthetic_photo(480, 360, seed=2), "JPEG", quality=92), chain)


def test_signed_by_a_test_certificate_reads_valid_but_untrusted(signed: bytes) -> None:
    found = inspect(signed, options=InspectOptions(watermarks=False))
    f = manifest(found)
    assert f.details["validation"] == "untrusted_signer"
    assert f.indicates == "ai_generated" and "trainedAlgorithmicMedia" in f.summary
    assert f.details["signer"]["issuer"] == "Takeback Test Signer"
    assert found.headline().startswith("AI involvement indicated, tier 1")


def test_trusted_when_its_root_is_a_trust_anchor(signed: bytes, chain) -> None:  # type: ignore[no-untyped-def]
    f = manifest(inspect(signed, options=InspectOptions(watermarks=False, trust_anchors_pem=chain.root_pem)))
    assert f.details["validation"] == "trusted" and not f.forgeable
    assert "signer on the trust list" in f.summary


def test_another_roots_anchor_does_not_make_it_trusted(signed: bytes) -> None:
    other = make_chain("Some Other CA")
    f = manifest(inspect(signed, options=InspectOptions(watermarks=False, trust_anchors_pem=other.root_pem)))
    assert f.details["validation"] == "untrusted_signer"


def test_tampered_after_signing(signed: bytes, chain) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(signed)
    data[-200] ^= 0x55  # a byte of the entropy-coded image data, after the manifest
    f = manifest(
        inspect(bytes(data), options=InspectOptions(watermarks=False, trust_anchors_pem=chain.root_pem))
    )
    assert f.details["validation"] == "tampered"
    assert "assertion.dataHash.mismatch" in {x["code"] for x in f.details["failures"]}


def test_composite_digital_source_type(chain) -> None:  # type: ignore[no-untyped-def]
    composite = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
    data = sign_jpeg(encode(synthetic_photo(320, 240), "JPEG"), chain, digital_source_type=composite)
    assert manifest(inspect(data, options=InspectOptions(watermarks=False))).indicates == "ai_edited"
    capture = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    data = sign_jpeg(encode(synthetic_photo(320, 240), "JPEG"), chain, digital_source_type=capture)
    found = inspect(data, options=InspectOptions(watermarks=False))
    assert manifest(found).indicates == "capture" and "no AI indication found" in found.headline()
    assert AI_SOURCE.endswith("trainedAlgorithmicMedia")


def test_a_pillow_re_encode_strips_the_manifest(signed: bytes) -> None:
    import io

    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(signed)).convert("RGB"))
    assert (
        manifest(inspect(encode(rgb, "JPEG", quality=95), options=InspectOptions(watermarks=False))) is None
    )


def test_shipped_trust_list_is_intact_and_sourced() -> None:
    certs = x509.load_pem_x509_certificates(shipped_anchors().encode())
    assert len(certs) >= 10
    by_subject = {c.subject.rfc4514_string(): c for c in certs}
    verified = 0
    for cert in certs:
        issuer = by_subject.get(cert.issuer.rfc4514_string())
        if issuer is None:
            continue
        try:
            cert.verify_directly_issued_by(issuer)
            verified += 1
        except Exception:
            assert "Trufo" in cert.subject.rfc4514_string()  # documented in SOURCES.json
    # All but three verify against a certificate in the lists: the published Trufo root, and two
    # DigiCert timestamping CAs whose root the interim list does not carry.
    assert verified == len(certs) - 3
    sources = trust_sources()
    assert [s["file"] for s in sources] == ["c2pa-trust-list.pem", "c2pa-interim-trust-list.pem"]
    assert sources[0]["source"].startswith("https://github.com/c2pa-org/conformance-public/")
    import hashlib
    from importlib import resources

    folder = resources.files("takeback.analysis.provenance").joinpath("data", "trust")
    for src in sources:
        assert src["retrieved"]
        assert hashlib.sha256(folder.joinpath(src["file"]).read_bytes()).hexdigest() == src["sha256"]
