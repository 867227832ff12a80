"""bench/gpu_suite.py builds its models at the real checkpoints' sizes (checked on the meta device: no memory)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import gpu_suite


def parameters(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def suite():
    return gpu_suite.Suite(torch.device("meta"), small=False, budget_s=60, peak_bw=None)


def test_sdxl_turbo_has_its_real_parts(suite):
    generator, _ = gpu_suite.sdxl_generator(suite)
    pipe = generator.pipe
    # stabilityai/sdxl-turbo's safetensors: unet, vae, text_encoder, text_encoder_2
    assert [parameters(m) for m in (pipe.unet, pipe.vae, pipe.text_encoder, pipe.text_encoder_2)] == [
        2_567_463_684,
        83_653_863,
        123_060_480,
        694_659_840,
    ]


def test_qwen2_5_vl_7b_has_its_real_size_and_reads_its_decoder_per_step(suite):
    model, dtype = gpu_suite.qwen_model(suite)
    assert dtype == torch.bfloat16
    assert parameters(model) == 8_292_166_656  # Qwen/Qwen2.5-VL-7B-Instruct
    assert parameters(model.model.visual) == 676_550_144
    # Per decode step: every weight but the vision tower and the embedding table, in bf16.
    embedding = model.model.language_model.embed_tokens.weight.numel()
    assert gpu_suite.decode_bytes(model) == 2 * (parameters(model) - parameters(model.model.visual) - embedding)


def test_blip_large_and_clip_l_have_their_real_sizes(suite):
    import index_throughput

    captioner = gpu_suite.blip_captioner(suite, 20)
    # Salesforce/blip-image-captioning-large: "470M params" as stored, where the decoder's output layer,
    # tied to its word embedding here, is a tensor of its own
    assert parameters(captioner.model) + 30524 * 768 == pytest.approx(470e6, rel=0.002)
    clip, _ = index_throughput.vit_l14(torch.device("meta"), torch.float32)
    assert parameters(clip) == 427_616_513  # openai/clip-vit-large-patch14


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 3.35e12),
        ("NVIDIA H100 PCIe", 2.0e12),
        ("NVIDIA H200", 4.8e12),
        ("NVIDIA A100-SXM4-80GB", 2.039e12),
        ("NVIDIA GeForce RTX 4090", 1.008e12),
        ("Some New Card", None),
    ],
)
def test_the_bandwidth_limit_comes_from_the_cards_name(name, peak):
    assert gpu_suite.peak_bandwidth(name) == peak


def test_a_failing_section_is_recorded_and_the_next_runs_and_the_budget_skips_the_rest(capsys):
    suite = gpu_suite.Suite(torch.device("cpu"), small=True, budget_s=30, peak_bw=None)
    ran = []

    def broken(s):
        raise RuntimeError("CUDA out of memory")

    suite.run("first", broken, needs_s=1)
    suite.run("second", lambda s: ran.append(s.add("second", "case", "42 images/s", images_per_s=42)), needs_s=1)
    suite.run("third", lambda s: ran.append("third"), needs_s=60)  # more than the budget has left
    suite.report()
    out = capsys.readouterr().out
    assert suite.errors == {"first": "RuntimeError: CUDA out of memory"} and "third" in suite.skipped
    assert len(ran) == 1 and "| first | FAILED | RuntimeError: CUDA out of memory |" in out
    data = json.loads(out.split("GPU_SUITE_JSON ", 1)[1])
    assert data["rows"][0]["images_per_s"] == 42 and data["errors"] and data["skipped"]["third"]


def test_real_size_cpu_builds_qwen2_vl_2b_at_its_real_size():
    import real_size_cpu

    with torch.device("meta"):
        model = real_size_cpu.qwen2_vl_2b()
    assert parameters(model) == 2_208_985_600  # Qwen/Qwen2-VL-2B-Instruct, its 1.5B decoder's embedding tied
    assert parameters(model.model.visual) == 665_271_296


def test_real_size_cpu_times_the_parts_of_the_bots_own_pipeline_call():
    """The SDXL section times SdxlGenerator's call and, by hooks in the same call, its parts."""
    import real_size_cpu
    from PIL import Image

    from contract.requests import GenerateRequest
    from contract.worker import Interrupt

    generator, _ = gpu_suite.sdxl_generator(gpu_suite.Suite(torch.device("cpu"), small=True, budget_s=60, peak_bw=None))
    parts = real_size_cpu.PartTimes(generator.pipe)
    request = GenerateRequest("a red fox", seed=1, steps=1, width=64, height=64, guidance=0.0)
    with torch.inference_mode():
        pictures = generator._draw([request], [1], Interrupt())
    assert isinstance(pictures[0], Image.Image) and pictures[0].size == (64, 64)
    assert set(parts.seconds) == {"text encoders", "UNet", "VAE decode"}
    assert all(seconds > 0 for seconds in parts.seconds.values())
    parts.reset()
    assert set(parts.seconds.values()) == {0.0}


def test_alternating_benches_turn_the_order_of_their_sides_every_round():
    from _common import turned

    sides = ["local", "ray"]
    assert [turned(sides, n) for n in range(3)] == [["local", "ray"], ["ray", "local"], ["local", "ray"]]
    assert sides == ["local", "ray"]  # the caller's list is left as it was
