"""Generator metadata: what AUTOMATIC1111/Forge, ComfyUI, NovelAI, InvokeAI and Fooocus write.

Each parser reads one tool's documented-by-practice format and returns a :class:`Finding` carrying the
text verbatim (prompts often name the victim: the finding is marked ``sensitive``; summaries never
quote the prompt). A key that looks like a generator's but does not parse yields a finding with an
``error``, never an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from takeback.analysis.provenance import fragility
from takeback.analysis.provenance.containers import TextItem
from takeback.analysis.provenance.models import Evidence, Finding, FindingError, Indicates, Tier

MAX_JSON_DEPTH = 200

# A1111 settings line: ``Key: value, Key: "quoted, value", ...`` (keys may hold spaces, dashes, slashes).
_PARAM = re.compile(r'\s*([\w][\w \-/+.()]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_SETTINGS_START = re.compile(r"^(Steps|Sampler|CFG scale|Seed|Size|Model hash|Model): ", re.M)


def _evidence(item: TextItem, value: Any = None) -> Evidence:
    return Evidence(
        source=item.source,
        field=item.key,
        offset=item.offset if item.offset >= 0 else None,
        length=item.length,
        value=item.text if value is None else value,
    )


_STRING = re.compile(r'"(?:\\.|[^"\\])*"')


def _json(text: str) -> Any:
    """json.loads with a nesting guard: deep JSON would hit recursion limits when it is serialised."""
    skeleton = np.frombuffer(_STRING.sub("", text).encode("utf-8", "replace"), dtype=np.uint8)
    if skeleton.size:
        opens = (skeleton == ord("[")) | (skeleton == ord("{"))
        closes = (skeleton == ord("]")) | (skeleton == ord("}"))
        depth = np.cumsum(opens.astype(np.int32) - closes.astype(np.int32))
        if int(depth.max()) > MAX_JSON_DEPTH:
            raise ValueError(f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nests too deeply") from None


def _error_finding(kind: str, generator: str, item: TextItem, code: str, message: str) -> Finding:
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind=kind,
        summary=f"{generator} metadata key '{item.key}' present but unreadable",
        indicates=Indicates.AI_GENERATED,
        generator=generator,
        confidence=0.5,
        forgeable=True,
        fragility=fragility.PNG_TEXT,
        sensitive=True,
        evidence=[_evidence(item)],
        error=FindingError(code=code, message=message),
    )


# --- AUTOMATIC1111 / Forge / SD.Next (the "parameters" text) -------------------------------------


def parse_a1111(text: str) -> dict[str, Any] | None:
    """Split A1111 ``parameters`` into prompt, negative prompt and settings; None if not that format."""
    starts = list(_SETTINGS_START.finditer(text))
    if not starts:
        return None
    cut = starts[-1].start()
    head, settings_line = text[:cut], text[cut:].strip()
    settings: dict[str, str] = {}
    for m in _PARAM.finditer(settings_line):
        key, value = m.group(1).strip(), m.group(2).strip()
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        settings[key] = value
    if "Steps" not in settings and "Seed" not in settings:
        return None
    neg_at = head.find("\nNegative prompt:")
    if head.startswith("Negative prompt:"):
        neg_at = 0
    if neg_at >= 0:
        prompt = head[:neg_at].strip() if neg_at else ""
        negative = head[neg_at:].strip().removeprefix("Negative prompt:").strip()
    else:
        prompt, negative = head.strip(), ""
    return {"prompt": prompt, "negative_prompt": negative, "settings": settings}


def _a1111_flavour(settings: dict[str, str], text: str) -> str:
    version = settings.get("Version", "")
    if settings.get("App") == "SD.Next" or "SD.Next" in version:
        return "SD.Next"
    if re.match(r"^f\d", version) or "forge" in version.lower():
        return "Stable Diffusion WebUI Forge"
    if "Civitai resources" in text or "Civitai metadata" in text:
        return "Civitai (A1111-compatible)"
    if version.startswith("v") or version == "":
        return "AUTOMATIC1111 Stable Diffusion WebUI"
    return "A1111-compatible generator"


_SUMMARY_KEYS = ("Steps", "Sampler", "CFG scale", "Seed", "Size", "Model hash", "Model", "Version")


def a1111_finding(item: TextItem, *, fragility_note: str) -> Finding | None:
    parsed = parse_a1111(item.text)
    if parsed is None:
        return None
    settings = parsed["settings"]
    flavour = _a1111_flavour(settings, item.text)
    shown = ", ".join(f"{k} {settings[k]}" for k in _SUMMARY_KEYS if k in settings)
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind="generator.a1111",
        summary=f"{flavour} parameters: {shown}",
        indicates=Indicates.AI_GENERATED,
        generator=flavour,
        confidence=0.97,
        forgeable=True,
        fragility=fragility_note,
        sensitive=bool(parsed["prompt"] or parsed["negative_prompt"]),
        details=parsed,
        evidence=[_evidence(item)],
    )


# --- ComfyUI ("prompt" API graph and "workflow" UI graph) ----------------------------------------

_SAMPLER_CLASSES = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced")


def _comfy_summary(graph: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    classes: list[str] = []
    checkpoints: list[str] = []
    loras: list[str] = []
    samplers: list[dict[str, Any]] = []
    prompts: list[str] = []
    for node in graph.values():
        if not isinstance(node, dict):
            continue
        cls = str(node.get("class_type", ""))
        inputs = node.get("inputs") if isinstance(node.get("inputs"), dict) else {}
        assert isinstance(inputs, dict)
        classes.append(cls)
        for key in ("ckpt_name", "unet_name", "model_name"):
            if isinstance(inputs.get(key), str):
                checkpoints.append(inputs[key])
        if isinstance(inputs.get("lora_name"), str):
            loras.append(inputs["lora_name"])
        if cls in _SAMPLER_CLASSES or cls.startswith("KSampler"):
            samplers.append(
                {
                    k: inputs[k]
                    for k in ("seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")
                    if k in inputs and not isinstance(inputs[k], list)
                }
            )
        for key in ("text", "text_g", "text_l", "clip_l", "t5xxl", "prompt"):
            if isinstance(inputs.get(key), str) and inputs[key].strip():
                prompts.append(inputs[key])
    parts = [f"{len(classes)} nodes"]
    if checkpoints:
        parts.append("model " + ", ".join(sorted(set(checkpoints))))
    if loras:
        parts.append("LoRA " + ", ".join(sorted(set(loras))))
    for s in samplers[:2]:
        parts.append("sampler " + ", ".join(f"{k} {v}" for k, v in s.items()))
    details = {
        "node_classes": sorted(set(classes)),
        "checkpoints": sorted(set(checkpoints)),
        "loras": sorted(set(loras)),
        "samplers": samplers,
        "prompts": prompts,
    }
    return "; ".join(parts), details


def comfyui_findings(items: dict[str, TextItem], *, fragility_note: str) -> list[Finding]:
    prompt_item, workflow_item = items.get("prompt"), items.get("workflow")
    if prompt_item is None and workflow_item is None:
        return []
    graph: Any = None
    evidence: list[Evidence] = []
    errors: list[Finding] = []
    if prompt_item is not None:
        try:
            graph = _json(prompt_item.text)
        except ValueError as exc:
            errors.append(
                _error_finding(
                    "generator.comfyui", "ComfyUI", prompt_item, "invalid_json", f"Not JSON: {exc}."
                )
            )
        if graph is not None and not (
            isinstance(graph, dict) and any(isinstance(v, dict) and "class_type" in v for v in graph.values())
        ):
            return errors  # a "prompt" key from another tool: handled as generic text
        evidence.append(_evidence(prompt_item))
    workflow: Any = None
    if workflow_item is not None:
        try:
            workflow = _json(workflow_item.text)
            evidence.append(_evidence(workflow_item))
        except ValueError as exc:
            errors.append(
                _error_finding(
                    "generator.comfyui", "ComfyUI", workflow_item, "invalid_json", f"Not JSON: {exc}."
                )
            )
    if not evidence:
        return errors
    if isinstance(graph, dict):
        summary, details = _comfy_summary(graph)
    elif isinstance(workflow, dict) and isinstance(workflow.get("nodes"), list):
        nodes = workflow["nodes"]
        types = sorted({str(n.get("type")) for n in nodes if isinstance(n, dict)})
        summary, details = f"workflow with {len(nodes)} nodes", {"node_classes": types, "prompts": []}
        for n in nodes:
            if isinstance(n, dict) and "CLIPTextEncode" in str(n.get("type")):
                wv = n.get("widgets_values")
                if isinstance(wv, list):
                    details["prompts"].extend(v for v in wv if isinstance(v, str) and v.strip())
    else:
        return errors
    return [
        Finding(
            tier=Tier.DETERMINISTIC,
            kind="generator.comfyui",
            summary=f"ComfyUI graph: {summary}",
            indicates=Indicates.AI_GENERATED,
            generator="ComfyUI",
            confidence=0.97,
            forgeable=True,
            fragility=fragility_note,
            sensitive=True,
            details=details,
            evidence=evidence,
        ),
        *errors,
    ]


# --- NovelAI (Software/Source/Description/Comment), also inside the stealth payload ---------------


def novelai_finding(
    fields: dict[str, str],
    evidence: list[Evidence],
    *,
    kind: str,
    fragility_note: str,
    where: str,
) -> Finding:
    comment_raw = fields.get("Comment")
    comment: Any = None
    error: FindingError | None = None
    if comment_raw:
        try:
            comment = _json(comment_raw)
        except ValueError as exc:
            error = FindingError(code="invalid_json", message=f"NovelAI Comment is not JSON: {exc}.")
    source = fields.get("Source", "")
    details: dict[str, Any] = {
        "software": fields.get("Software"),
        "source": source or None,
        "description": fields.get("Description"),
        "generation_time": fields.get("Generation time"),
    }
    shown: list[str] = []
    if source:
        shown.append(source)
    if isinstance(comment, dict):
        details["comment"] = comment
        for key in ("steps", "seed", "sampler", "scale", "width", "height"):
            if key in comment and not isinstance(comment[key], dict | list):
                shown.append(f"{key} {comment[key]}")
        if "signed_hash" in comment:
            details["signed_hash_present"] = True
            shown.append("carries NovelAI's signed_hash (not verified here)")
    prompt_present = bool(fields.get("Description")) or (
        isinstance(comment, dict) and bool(comment.get("prompt") or comment.get("uc"))
    )
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind=kind,
        summary=f"NovelAI metadata ({where}): " + (", ".join(shown) if shown else "Software NovelAI"),
        indicates=Indicates.AI_GENERATED,
        generator="NovelAI" + (f" ({source})" if source else ""),
        confidence=0.97 if error is None else 0.8,
        forgeable=True,
        fragility=fragility_note,
        sensitive=prompt_present or error is not None,
        details=details,
        evidence=evidence,
        error=error,
    )


# --- InvokeAI ----------------------------------------------------------------------------------

_DREAM = re.compile(r'^"(?P<prompt>.*)"\s+(?P<args>(?:-\w+\s*\S*\s*)+)$', re.S)


def invokeai_findings(items: dict[str, TextItem], *, fragility_note: str) -> list[Finding]:
    keys = [k for k in ("invokeai_metadata", "invokeai_graph", "invokeai_workflow", "sd-metadata", "Dream")]
    present = [items[k] for k in keys if k in items]
    if not present:
        return []
    out: list[Finding] = []
    details: dict[str, Any] = {}
    shown: list[str] = []
    for item in present:
        if item.key == "Dream":
            m = _DREAM.match(item.text.strip())
            if m:
                details["prompt"] = m.group("prompt")
                details["dream_args"] = m.group("args").strip()
                shown.append(f"v1 Dream args {m.group('args').strip()}")
            else:
                details["dream"] = item.text
            continue
        try:
            data = _json(item.text)
        except ValueError as exc:
            out.append(
                _error_finding("generator.invokeai", "InvokeAI", item, "invalid_json", f"Not JSON: {exc}.")
            )
            continue
        if item.key == "invokeai_metadata" and isinstance(data, dict):
            model = data.get("model")
            model_name = model.get("name") if isinstance(model, dict) else model
            details.update(
                {
                    "prompt": data.get("positive_prompt"),
                    "negative_prompt": data.get("negative_prompt"),
                    "model": model_name,
                    "app_version": data.get("app_version"),
                    "generation_mode": data.get("generation_mode"),
                }
            )
            for key in ("generation_mode", "steps", "seed", "cfg_scale", "scheduler", "width", "height"):
                if key in data and not isinstance(data[key], dict | list):
                    shown.append(f"{key} {data[key]}")
            if model_name:
                shown.append(f"model {model_name}")
        elif item.key == "sd-metadata" and isinstance(data, dict):
            image = data.get("image") if isinstance(data.get("image"), dict) else {}
            assert isinstance(image, dict)
            details.update({"app_id": data.get("app_id"), "model": data.get("model_weights"), "image": image})
            shown.append(f"sd-metadata {data.get('app_id', '')} {data.get('app_version', '')}".strip())
        else:
            details.setdefault("graphs", []).append(item.key)
    good = [i for i in present if not any(f.evidence and f.evidence[0].field == i.key for f in out)]
    if good:
        out.insert(
            0,
            Finding(
                tier=Tier.DETERMINISTIC,
                kind="generator.invokeai",
                summary="InvokeAI metadata: "
                + (", ".join(shown) if shown else ", ".join(i.key for i in good)),
                indicates=Indicates.AI_GENERATED,
                generator="InvokeAI",
                confidence=0.97,
                forgeable=True,
                fragility=fragility_note,
                sensitive=True,
                details=details,
                evidence=[_evidence(i) for i in good],
            ),
        )
    return out


# --- Fooocus (JSON "parameters" or "fooocus_scheme") -----------------------------------------------


def fooocus_finding(item: TextItem, *, fragility_note: str) -> Finding | None:
    text = item.text.strip()
    if not text.startswith("{"):
        return None
    try:
        data = _json(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    version = str(data.get("version") or data.get("Version") or "")
    if "fooocus" not in version.lower() and "base_model" not in data:
        return None
    shown = [f"{k} {data[k]}" for k in ("version", "base_model", "seed", "steps") if k in data]
    return Finding(
        tier=Tier.DETERMINISTIC,
        kind="generator.fooocus",
        summary="Fooocus parameters: " + ", ".join(shown),
        indicates=Indicates.AI_GENERATED,
        generator="Fooocus",
        confidence=0.95,
        forgeable=True,
        fragility=fragility_note,
        sensitive=bool(data.get("prompt") or data.get("negative_prompt")),
        details=data,
        evidence=[_evidence(item)],
    )


# --- one entry point over a file's text items ------------------------------------------------------

NOVELAI_KEYS = ("Software", "Source", "Description", "Comment", "Title", "Generation time")


def from_text_items(items: Iterable[TextItem]) -> list[Finding]:
    """Generator findings from PNG text chunks (or any key/value text the container holds)."""
    by_key: dict[str, TextItem] = {}
    for item in items:
        by_key.setdefault(item.key, item)
    note = fragility.PNG_TEXT
    out: list[Finding] = []
    if "parameters" in by_key:
        item = by_key["parameters"]
        finding = a1111_finding(item, fragility_note=note) or fooocus_finding(item, fragility_note=note)
        if finding is None:
            finding = Finding(
                tier=Tier.DETERMINISTIC,
                kind="generator.parameters",
                summary="a 'parameters' text chunk in no format known here (A1111-style tools write it)",
                indicates=Indicates.AI_GENERATED,
                generator=None,
                confidence=0.6,
                forgeable=True,
                fragility=note,
                sensitive=True,
                evidence=[_evidence(item)],
            )
        out.append(finding)
    if "fooocus_scheme" in by_key and not any(f.kind == "generator.fooocus" for f in out):
        item = by_key["fooocus_scheme"]
        out.append(
            Finding(
                tier=Tier.DETERMINISTIC,
                kind="generator.fooocus",
                summary=f"Fooocus metadata scheme '{item.text[:40]}'",
                indicates=Indicates.AI_GENERATED,
                generator="Fooocus",
                confidence=0.9,
                forgeable=True,
                fragility=note,
                evidence=[_evidence(item)],
            )
        )
    out.extend(comfyui_findings(by_key, fragility_note=note))
    software = by_key.get("Software")
    if software is not None and software.text.strip().lower().startswith("novelai"):
        fields = {k: by_key[k].text for k in NOVELAI_KEYS if k in by_key}
        ev = [_evidence(by_key[k]) for k in NOVELAI_KEYS if k in by_key]
        out.append(
            novelai_finding(
                fields, ev, kind="generator.novelai", fragility_note=note, where="PNG text chunks"
            )
        )
    out.extend(invokeai_findings(by_key, fragility_note=note))
    return out


def from_user_comment(text: str, evidence: Evidence) -> Finding | None:
    """A1111 writes its parameters to EXIF UserComment in JPEG and WebP."""
    item = TextItem(evidence.source, evidence.field or "UserComment", text, evidence.offset or -1, 0)
    finding = a1111_finding(item, fragility_note=fragility.EXIF)
    if finding is not None:
        finding.evidence = [evidence.model_copy(update={"value": text})]
    return finding
