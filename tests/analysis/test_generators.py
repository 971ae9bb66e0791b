"""Tier-2 generator metadata and XMP/EXIF traces, from files built here for each tool's format."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pytest
from PIL import Image

from takeback.analysis.provenance import NO_PROVENANCE, Findings, Tier, inspect
from takeback.analysis.provenance.generators import parse_a1111
from tests.analysis.fixtures import (
    A1111_TEXT,
    dst_description,
    jpeg_with_exif,
    jpeg_with_xmp,
    novelai_fields,
    novelai_stealth_png,
    png_with_text,
    stealth_png,
    user_comment_unicode,
    xmp_packet,
)
from tests.conftest import encode, synthetic_photo


def kinds(f: Findings) -> list[str]:
    return [x.kind for x in f.findings]


def one(f: Findings, kind: str):  # type: ignore[no-untyped-def]
    hits = [x for x in f.findings if x.kind == kind]
    assert len(hits) == 1, kinds(f)
    return hits[0]


def test_plain_images_report_no_provenance_never_authentic() -> None:
    for data in (encode(synthetic_photo(300, 200), "JPEG"), encode(synthetic_photo(301, 203), "PNG")):
        found = inspect(data)
        assert found.findings == []
        assert found.headline() == NO_PROVENANCE
        assert "authentic" not in json.dumps(found.to_record()).lower()


def test_a1111_parameters_parse() -> None:
    parsed = parse_a1111(A1111_TEXT)
    assert parsed is not None
    assert parsed["prompt"] == "photo of Jane Example at the beach, detailed"
    assert parsed["negative_prompt"] == "blurry, lowres"
    s = parsed["settings"]
    assert s["Steps"] == "30" and s["Seed"] == "1234567" and s["Model hash"] == "6ce0161689"
    assert s["Lora hashes"] == "detail: abc123, x: def"  # quoted values keep their commas
    assert parse_a1111("just a caption, nothing else") is None


@pytest.mark.parametrize("itxt", [False, True])
def test_a1111_png_chunk(itxt: bool) -> None:
    found = inspect(png_with_text({"parameters": A1111_TEXT}, itxt=itxt))
    f = one(found, "generator.a1111")
    assert f.tier == Tier.DETERMINISTIC and f.indicates == "ai_generated"
    assert f.generator == "AUTOMATIC1111 Stable Diffusion WebUI"
    assert "Seed 1234567" in f.summary and "Model hash 6ce0161689" in f.summary
    assert f.sensitive and "Jane" not in f.summary  # prompt verbatim in evidence, never in the summary
    ev = f.evidence[0]
    assert ev.value == A1111_TEXT and ev.field == "parameters"
    assert ev.source == ("png:iTXt" if itxt else "png:tEXt") and ev.offset == 33
    assert found.headline().startswith("AI involvement indicated, tier 2")


def test_forge_and_sdnext_are_told_apart() -> None:
    forge = A1111_TEXT.replace("Version: v1.9.4", "Version: f2.0.1v1.10.1-previous-313-g8a042934")
    assert one(inspect(png_with_text({"parameters": forge})), "generator.a1111").generator == (
        "Stable Diffusion WebUI Forge"
    )
    sdnext = A1111_TEXT.replace("Version: v1.9.4", "App: SD.Next, Version: 2a5d1c6")
    assert one(inspect(png_with_text({"parameters": sdnext})), "generator.a1111").generator == "SD.Next"


def test_a1111_jpeg_exif_user_comment() -> None:
    data = jpeg_with_exif(
        {0x0131: "Adobe Photoshop 25.0"}, ifd_tags={0x9286: user_comment_unicode(A1111_TEXT)}
    )
    f = one(inspect(data), "generator.a1111")
    assert f.evidence[0].source == "jpeg:APP1/exif" and f.evidence[0].field == "EXIF UserComment"
    assert f.details["prompt"].startswith("photo of Jane")
    assert "EXIF" in f.fragility


COMFY_PROMPT = {
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 156680208700286,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
        },
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "photo of Jane Example", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
}


def test_comfyui_prompt_and_workflow() -> None:
    workflow = {
        "nodes": [
            {"id": 3, "type": "KSampler"},
            {"id": 6, "type": "CLIPTextEncode", "widgets_values": ["photo of Jane Example"]},
        ]
    }
    found = inspect(png_with_text({"prompt": json.dumps(COMFY_PROMPT), "workflow": json.dumps(workflow)}))
    f = one(found, "generator.comfyui")
    assert "4 nodes" in f.summary and "v1-5-pruned-emaonly.safetensors" in f.summary
    assert "seed 156680208700286" in f.summary and "Jane" not in f.summary
    assert f.details["prompts"] == ["photo of Jane Example", "text, watermark"]
    assert {e.field for e in f.evidence} == {"prompt", "workflow"} and f.sensitive


def test_comfyui_workflow_only() -> None:
    workflow = {"nodes": [{"id": 6, "type": "CLIPTextEncode", "widgets_values": ["a red bicycle"]}]}
    f = one(inspect(png_with_text({"workflow": json.dumps(workflow)})), "generator.comfyui")
    assert "workflow with 1 nodes" in f.summary and f.details["prompts"] == ["a red bicycle"]


def test_comfyui_webp_exif_make_model() -> None:
    exif = Image.Exif()
    exif[0x010F] = "workflow:" + json.dumps({"nodes": []})
    exif[0x0110] = "prompt:" + json.dumps(COMFY_PROMPT)
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(320, 240)).save(buf, "WEBP", exif=exif.tobytes())
    f = one(inspect(buf.getvalue()), "generator.comfyui")
    assert f.evidence[0].source.startswith("webp:EXIF")


def test_novelai_png_text_chunks() -> None:
    found = inspect(png_with_text(novelai_fields(), size=(832, 1216)))
    f = one(found, "generator.novelai")
    assert f.generator == "NovelAI (NovelAI Diffusion V4.5 4BDE2A90)"
    assert "seed 2718281828" in f.summary and "signed_hash" in f.summary
    assert f.details["comment"]["uc"] == "lowres, bad anatomy" and f.sensitive
    assert {e.field for e in f.evidence} >= {"Software", "Comment", "Description"}
    # 832x1216 is an SDXL/NovelAI bucket: the weak tier-3 signal rides along, below the tier-2 finding.
    assert one(found, "consistency.generator_resolution").tier == Tier.CONSISTENCY


def test_novelai_stealth_alpha_payload_survives_metadata_stripping() -> None:
    data = novelai_stealth_png()  # no text chunks at all: only the alpha LSBs carry it
    found = inspect(data)
    f = one(found, "generator.novelai_stealth")
    assert "stealth_pngcomp" in f.summary and f.details["source"] == "NovelAI Diffusion V4.5 4BDE2A90"
    assert f.evidence[0].source == "pixels:alpha-lsb" and f.sensitive
    assert json.loads(f.evidence[0].value)["Software"] == "NovelAI"
    assert "alpha" in f.fragility
    assert not [x for x in found.findings if x.error]


def test_a1111_stealth_pnginfo_extension() -> None:
    f = one(inspect(stealth_png(A1111_TEXT.encode(), magic=b"stealth_pnginfo")), "generator.a1111_stealth")
    assert "Seed 1234567" in f.summary


def test_stealth_payload_is_lost_when_alpha_is_dropped() -> None:
    rgba = np.asarray(Image.open(io.BytesIO(novelai_stealth_png())))
    assert "generator.novelai_stealth" not in kinds(
        inspect(encode(np.ascontiguousarray(rgba[:, :, :3]), "PNG"))
    )


@pytest.mark.parametrize(
    ("texts", "summary_bit"),
    [
        (
            {
                "invokeai_metadata": json.dumps(
                    {
                        "positive_prompt": "Jane",
                        "seed": 42,
                        "steps": 30,
                        "generation_mode": "txt2img",
                        "model": {"name": "sdxl-base"},
                    }
                ),
                "invokeai_graph": json.dumps({"nodes": {}}),
            },
            "model sdxl-base",
        ),
        (
            {
                "sd-metadata": json.dumps(
                    {
                        "app_id": "invoke-ai/InvokeAI",
                        "app_version": "2.3.5",
                        "image": {"prompt": [{"prompt": "Jane", "weight": 1}], "seed": 1},
                    }
                )
            },
            "invoke-ai/InvokeAI 2.3.5",
        ),
        (
            {"Dream": '"a portrait of Jane" -s 50 -S 3357757885 -W 512 -H 512 -C 7.5 -A k_lms'},
            "-S 3357757885",
        ),
    ],
    ids=["v3-metadata", "v2-sd-metadata", "v1-dream"],
)
def test_invokeai_formats(texts: dict[str, str], summary_bit: str) -> None:
    f = one(inspect(png_with_text(texts)), "generator.invokeai")
    assert summary_bit in f.summary and "Jane" not in f.summary and f.sensitive


def test_fooocus_json_parameters() -> None:
    params = {
        "prompt": "Jane",
        "negative_prompt": "",
        "base_model": "juggernautXL",
        "seed": "7",
        "version": "Fooocus v2.5.0",
    }
    f = one(
        inspect(png_with_text({"parameters": json.dumps(params), "fooocus_scheme": "fooocus"})),
        "generator.fooocus",
    )
    assert "juggernautXL" in f.summary


@pytest.mark.parametrize(
    ("source_type", "indicates"),
    [
        ("trainedAlgorithmicMedia", "ai_generated"),
        ("compositeWithTrainedAlgorithmicMedia", "ai_edited"),
        ("digitalCapture", "capture"),
    ],
)
def test_xmp_digital_source_type(source_type: str, indicates: str) -> None:
    found = inspect(jpeg_with_xmp(xmp_packet(dst_description(source_type))))
    f = one(found, "xmp.digital_source_type")
    assert f.indicates == indicates and source_type in f.summary and "unsigned" in f.summary
    assert f.evidence[0].source == "jpeg:APP1/xmp" and f.evidence[0].field == "Iptc4xmpExt:DigitalSourceType"
    if indicates == "capture":
        assert found.headline() == NO_PROVENANCE  # a camera claim is not an AI indication


def test_xmp_in_png_itxt_and_attribute_form() -> None:
    body = (
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>'
    )
    data = png_with_text({"XML:com.adobe.xmp": xmp_packet(body).decode()}, itxt=True)
    f = one(inspect(data), "xmp.digital_source_type")
    assert f.evidence[0].source == "png:iTXt/xmp"


def test_exif_software_naming_a_generator() -> None:
    f = one(inspect(jpeg_with_exif({0x0131: "NovelAI"})), "metadata.software")
    assert f.generator == "NovelAI" and f.evidence[0].field == "EXIF Software"
    assert "metadata.software" not in kinds(inspect(jpeg_with_exif({0x0131: "GIMP 2.10.36"})))


def test_camera_exif_beside_generator_metadata_is_a_contradiction() -> None:
    data = jpeg_with_exif(
        {0x010F: "Canon", 0x0110: "EOS R5"}, ifd_tags={0x9286: user_comment_unicode(A1111_TEXT)}
    )
    found = inspect(data)
    assert one(found, "consistency.camera_and_generator").tier == Tier.CONSISTENCY
    assert "consistency.generator_resolution" not in kinds(found)  # a camera make/model is present


def test_weak_signals_alone_never_claim_ai() -> None:
    found = inspect(encode(synthetic_photo(1024, 1024), "PNG"))
    assert kinds(found) == ["consistency.generator_resolution"]
    assert found.headline().startswith(NO_PROVENANCE) and "weak signal" in found.headline()
    assert found.to_record()["strongest_tier"] == 3


def test_findings_are_json_serialisable_and_marked_sensitive() -> None:
    found = inspect(png_with_text({"parameters": A1111_TEXT}))
    rec = json.loads(json.dumps(found.to_record()))
    assert rec["sensitive"] is True and rec["strongest_tier"] == 2
    assert {"tier", "kind", "summary", "evidence", "confidence", "fragility", "sensitive", "error"} <= set(
        rec["findings"][0]
    )


def test_stealth_gzip_is_bounded() -> None:
    bomb = gzip.compress(b"\x00" * (20 << 20))  # 20 MiB of zeros in ~20 KB
    f = one(inspect(stealth_png(bomb)), "generator.stealth")
    assert f.error is not None and f.error.code == "decompression_limit"
