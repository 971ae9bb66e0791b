"""C2PA Content Credentials through ``c2pa-python``, judged against shipped trust anchors.

Four readings, kept apart because they mean different things in court:

* ``trusted`` - the signature is valid and the signer chains to a shipped (or supplied) trust anchor;
* ``untrusted_signer`` - the signature and bindings are valid but the signer is on no trust list
  (anyone can make such a certificate: the claims are only as good as an unknown signer);
* ``tampered`` - the claim signature, an assertion or the image bytes no longer match what was signed;
* ``invalid`` - anything else the validator rejects (expired or unusable certificate, a binding this
  validator cannot check), which is not by itself proof of tampering.

``c2pa-python`` ships no trust list; ``data/trust/`` holds the official C2PA trust list with its
source and date (``SOURCES.json``).
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from functools import lru_cache
from importlib import resources
from typing import Any

from takeback.analysis.provenance import fragility
from takeback.analysis.provenance.models import Evidence, Finding, FindingError, Indicates, Tier

TAMPER_CODES = frozenset(
    {
        "claimSignature.mismatch",
        "assertion.dataHash.mismatch",
        "assertion.hashedURI.mismatch",
        "assertion.bmffHash.mismatch",
        "assertion.boxesHash.mismatch",
        "assertion.collectionHash.mismatch",
        "ingredient.hashedURI.mismatch",
        "timeStamp.mismatch",
    }
)
UNTRUSTED = "signingCredential.untrusted"

AI_SOURCE_TYPES = {
    "trainedAlgorithmicMedia": Indicates.AI_GENERATED,
    "compositeWithTrainedAlgorithmicMedia": Indicates.AI_EDITED,
    "compositeSynthetic": Indicates.AI_EDITED,
    "algorithmicallyEnhanced": Indicates.AI_EDITED,
}
CAPTURE_SOURCE_TYPES = {"digitalCapture", "negativeFilm", "positiveFilm", "print", "compositeCapture"}

STATUS_WORDS = {
    "trusted": "signature valid, signer on the trust list",
    "untrusted_signer": "valid signature, signer not on the trust list",
    "tampered": "TAMPERED: content or claims changed after signing",
    "invalid": "credentials did not validate",
}


def _trust_dir() -> Any:
    return resources.files("takeback.analysis.provenance").joinpath("data", "trust")


@lru_cache(maxsize=1)
def shipped_anchors() -> str:
    """Every PEM file in ``data/trust`` concatenated (certificates only)."""
    parts = []
    for entry in sorted(_trust_dir().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".pem"):
            parts.append(entry.read_text(encoding="utf-8"))
    return "\n".join(parts)


@lru_cache(maxsize=1)
def trust_sources() -> list[dict[str, Any]]:
    data = json.loads(_trust_dir().joinpath("SOURCES.json").read_text(encoding="utf-8"))
    return [
        {k: item.get(k) for k in ("file", "name", "source", "retrieved", "sha256")} for item in data["lists"]
    ]


_lock = threading.Lock()
_contexts: dict[str, Any] = {}


def _context(extra_pem: str | None, use_shipped: bool) -> Any:
    import c2pa

    anchors = (shipped_anchors() if use_shipped else "") + "\n" + (extra_pem or "")
    key = hashlib.sha256(anchors.encode()).hexdigest()
    with _lock:
        ctx = _contexts.get(key)
        if ctx is None:
            settings: dict[str, Any] = {"verify": {"verify_trust": True}}
            if anchors.strip():
                settings["trust"] = {"trust_anchors": anchors}
            ctx = c2pa.Context.from_dict(settings)
            _contexts[key] = ctx
        return ctx


def _source_name(uri: Any) -> str | None:
    if not isinstance(uri, str) or not uri:
        return None
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for assertion in manifest.get("assertions") or []:
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        data = assertion.get("data") if isinstance(assertion.get("data"), dict) else {}
        for action in (data or {}).get("actions") or []:
            if not isinstance(action, dict):
                continue
            agent = action.get("softwareAgent")
            if isinstance(agent, dict):
                agent = agent.get("name")
            out.append(
                {
                    "action": action.get("action"),
                    "digitalSourceType": action.get("digitalSourceType"),
                    "softwareAgent": agent,
                }
            )
    return out


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    """The claim generator as signed: the v1 ``claim_generator`` string, else ``claim_generator_info``."""
    gen = manifest.get("claim_generator")
    if gen:
        return str(gen)
    info = manifest.get("claim_generator_info")
    if isinstance(info, list) and info and isinstance(info[0], dict):
        name, version = info[0].get("name"), info[0].get("version")
        return f"{name} {version}" if version and str(version) not in str(name) else str(name)
    return None


def classify(state: str | None, failures: list[dict[str, Any]]) -> str:
    """One of ``trusted``, ``untrusted_signer``, ``tampered``, ``invalid`` (see the module doc)."""
    if state == "Trusted":
        return "trusted"
    tamper = {str(f.get("code")) for f in failures} & TAMPER_CODES
    if tamper:
        # A newer validator rejects some early files because the data-hash exclusion does not sit
        # where the manifest is; the bytes may be untouched, so that alone is not called tampering.
        exclusion_only = tamper == {"assertion.dataHash.mismatch"} and all(
            "exclusion" in str(f.get("explanation", ""))
            for f in failures
            if f.get("code") == "assertion.dataHash.mismatch"
        )
        return "invalid" if exclusion_only else "tampered"
    if state == "Valid":
        return "untrusted_signer"
    return "invalid"


def read_credentials(
    data: bytes,
    mime: str,
    *,
    offset: int | None,
    extra_anchors_pem: str | None = None,
    use_shipped_anchors: bool = True,
) -> list[Finding]:
    """Findings for the C2PA manifest store in ``data`` (empty when there is none)."""
    import c2pa

    try:
        ctx = _context(extra_anchors_pem, use_shipped_anchors)
        reader = c2pa.Reader.try_create(mime, io.BytesIO(data), None, ctx)
        if reader is None:
            return []
        with reader:
            state = reader.get_validation_state()
            store = json.loads(reader.json())
    except Exception as exc:  # C2paError and friends: a malformed store must not stop a scan
        message = str(exc).strip() or type(exc).__name__
        return [
            Finding(
                tier=Tier.CRYPTOGRAPHIC,
                kind="c2pa.manifest",
                summary="C2PA manifest store present but unreadable",
                indicates=Indicates.UNKNOWN,
                confidence=0.5,
                forgeable=True,
                fragility=fragility.C2PA,
                evidence=[Evidence(source="c2pa:manifest_store", offset=offset)],
                error=FindingError(
                    code="c2pa_malformed", message=f"The C2PA data could not be read: {message[:300]}"
                ),
            )
        ]
    return [_manifest_finding(store, state, offset)]


def _manifest_finding(store: dict[str, Any], state: str | None, offset: int | None) -> Finding:
    manifests = store.get("manifests") if isinstance(store.get("manifests"), dict) else {}
    assert isinstance(manifests, dict)
    label = store.get("active_manifest")
    active = manifests.get(label) if isinstance(label, str) else None
    active = active if isinstance(active, dict) else {}
    failures = [f for f in store.get("validation_status") or [] if isinstance(f, dict)]
    status = classify(state, failures)
    sig = active.get("signature_info") if isinstance(active.get("signature_info"), dict) else {}
    assert isinstance(sig, dict)
    actions = _actions(active)
    generator = _claim_generator(active)
    # What the claims say about AI: the active manifest's actions, then its ingredients' manifests.
    indicates = Indicates.SOFTWARE
    source_types = [_source_name(a.get("digitalSourceType")) for a in actions]
    for st in source_types:
        if st in AI_SOURCE_TYPES:
            indicates = AI_SOURCE_TYPES[st] if indicates is not Indicates.AI_GENERATED else indicates
        elif st in CAPTURE_SOURCE_TYPES and indicates is Indicates.SOFTWARE:
            indicates = Indicates.CAPTURE
    ingredient_ai: list[str] = []
    for other_label, manifest in manifests.items():
        if other_label == label or not isinstance(manifest, dict):
            continue
        for a in _actions(manifest):
            name = _source_name(a.get("digitalSourceType"))
            if name in AI_SOURCE_TYPES:
                ingredient_ai.append(name or "")
    if ingredient_ai and indicates not in (Indicates.AI_GENERATED, Indicates.AI_EDITED):
        indicates = Indicates.AI_EDITED
    signer = sig.get("common_name") or sig.get("issuer") or "an unnamed signer"
    parts = [f"C2PA manifest signed by {signer}"]
    if sig.get("issuer") and sig.get("issuer") != signer:
        parts[0] += f" (issuer {sig['issuer']})"
    codes = [str(f.get("code")) for f in failures]
    signer_trusted = not any(c.startswith("signingCredential.") for c in codes)
    if status in ("tampered", "invalid"):
        shown_codes = ", ".join(sorted({c for c in codes if c != UNTRUSTED})) or "no reason given"
        trust_word = "signer on the trust list" if signer_trusted else "signer not on the trust list"
        parts.append(f"{STATUS_WORDS[status]} ({shown_codes}; {trust_word})")
    else:
        parts.append(STATUS_WORDS[status])
    if generator:
        parts.append(f"claim generator {generator}")
    shown_actions = [
        str(a.get("action"))
        + (f" ({_source_name(a.get('digitalSourceType'))})" if a.get("digitalSourceType") else "")
        for a in actions[:4]
    ]
    if shown_actions:
        parts.append("actions " + ", ".join(shown_actions))
    if ingredient_ai:
        parts.append("an ingredient's manifest declares " + ", ".join(sorted(set(ingredient_ai))))
    confidence = {"trusted": 0.99, "untrusted_signer": 0.9, "tampered": 0.6, "invalid": 0.6}[status]
    ingredients = [
        {
            "title": i.get("title"),
            "relationship": i.get("relationship"),
            "active_manifest": i.get("active_manifest"),
        }
        for i in active.get("ingredients") or []
        if isinstance(i, dict)
    ]
    return Finding(
        tier=Tier.CRYPTOGRAPHIC,
        kind="c2pa.manifest",
        summary="; ".join(parts),
        indicates=indicates,
        generator=generator,
        confidence=confidence,
        forgeable=status != "trusted",
        fragility=fragility.C2PA,
        details={
            "validation": status,
            "validation_state": state,
            "signer_trusted": signer_trusted,
            "failures": [{"code": f.get("code"), "explanation": f.get("explanation")} for f in failures],
            "signer": {k: sig.get(k) for k in ("issuer", "common_name", "cert_serial_number", "time", "alg")},
            "claim_generator": generator,
            "title": active.get("title"),
            "actions": actions,
            "ingredients": ingredients,
            "manifest_count": len(manifests),
            "trust_lists": [s["name"] for s in trust_sources()],
        },
        evidence=[
            Evidence(
                source="c2pa:manifest_store",
                field=label if isinstance(label, str) else None,
                offset=offset,
                value=store,
            )
        ],
        error=None,
    )
