"""Real-size models on a CPU: what a user without a GPU waits for, per model, in fp32 and bf16.

Every model is built HERE, from its published config (the hyperparameters are written out below or in
bench/gpu_suite.py and bench/index_throughput.py), with random weights: the same shapes, so the same
compute and memory traffic as the real checkpoints; nothing is downloaded (HF_HUB_OFFLINE=1). Each model
is built once in fp32, timed, converted to bf16 in place and timed again (DTYPE=auto picks bf16 on CPUs
with AVX512-BF16 or AMX, fp32 elsewhere), then freed before the next one:

* BLIP-large captions (Salesforce/blip-image-captioning-large, 384x384), one photo, 20 tokens, through the
  bot's BlipCaptioner (preprocessing and decoding included).
* CLIP ViT-L/14 (openai/clip-vit-large-patch14): a /find query (the bot's ClipEmbedder.embed_texts, one
  text) and indexing (ClipEmbedder.embed_images on a batch of --clip-batch 1280x960 photos), photos/s.
* A 2B-class VLM: Qwen/Qwen2-VL-2B-Instruct's config.json (Qwen2VLForConditionalGeneration): time to first
  token with one 448x448 photo (256 image tokens) and a 24-token question, and decode tokens/s, batch 1.
  (The bot's default VLM_IMAGE_PIXELS lets a photo reach ~1 MP, about 5x the image tokens.)
* SDXL-turbo (stabilityai/sdxl-turbo), 512x512, 1 step, no guidance, batch 1, part by part so that only
  one part is in memory at a time: the two text encoders, one UNet step (2.57 B parameters: 10.3 GB in
  fp32), the VAE decode. The sum is one /gen image (scheduler and PNG encoding excluded). A part is
  skipped, and said so, when MemAvailable can't hold it with a margin.

Each section is timed as the median of --repeats calls after one warm-up call; sections are skipped, and
the report says so, past --budget-s. The load average and CPU model are printed with the table.

    python bench/real_size_cpu.py --quick     # 1 timed call each, 8 decode tokens: ~3.5 min on a quiet 2-core CPU
    python bench/real_size_cpu.py             # 3 timed calls each, 32 decode tokens
    python bench/real_size_cpu.py --only blip,clip
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch
from _common import load_average, machine  # sets HF_HUB_OFFLINE=1; puts the project on sys.path

ROWS: list[tuple[str, str, str]] = []
NOT_MEASURED: list[tuple[str, str]] = []


def mem_available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("inf")


def fits(what: str, needs_gb: float) -> bool:
    """Whether `needs_gb` more fits in MemAvailable with 2 GB to spare (others share the machine)."""
    available = mem_available_gb()
    if available < needs_gb + 2:
        NOT_MEASURED.append((what, f"needs ~{needs_gb:.1f} GB, MemAvailable {available:.1f} GB"))
        print(f"   skipped {what}: needs ~{needs_gb:.1f} GB, {available:.1f} GB available", flush=True)
        return False
    return True


def median_s(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def add(model: str, case: str, result: str) -> None:
    ROWS.append((model, case, result))
    print(f"   {model} | {case} | {result} | {load_average()}", flush=True)


def params(module: torch.nn.Module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e9


def suite():
    import gpu_suite

    return gpu_suite.Suite(torch.device("cpu"), small=False, budget_s=10**6, peak_bw=None)


def precisions(module: torch.nn.Module):
    """fp32 first, then the same weights converted to bf16 in place (the memory of one copy at a time)."""
    yield "fp32"
    module.to(torch.bfloat16)
    gc.collect()
    yield "bf16"


# -- BLIP-large -------------------------------------------------------------------------------------------


def blip(args: argparse.Namespace) -> None:
    import gpu_suite
    from index_throughput import photos

    from contract.requests import CaptionRequest
    from contract.worker import Interrupt
    from models.base import Device

    if not fits("BLIP-large", 2.5):
        return
    tokens = 20
    captioner = gpu_suite.blip_captioner(suite(), tokens)
    print(f"   built BLIP-large: {params(captioner.model):.3f} B parameters", flush=True)
    request = [CaptionRequest(photos(1)[0])]
    for precision in precisions(captioner.model):
        captioner.device = Device(torch.device("cpu"), next(captioner.model.parameters()).dtype)
        with torch.inference_mode():
            seconds = median_s(lambda: captioner.run(request, Interrupt()), args.repeats)
        add("BLIP-large caption", f"{precision}, 1 photo (384²), {tokens} tokens", f"{seconds:.2f} s a caption")


# -- CLIP ViT-L/14 ----------------------------------------------------------------------------------------


def clip(args: argparse.Namespace) -> None:
    from index_throughput import batched, photos, vit_l14

    from models.base import Device
    from models.clip import ClipEmbedder

    if not fits("CLIP ViT-L/14", 2.5):
        return
    from transformers import CLIPProcessor

    from tests.support.tiny_models import _clip_tokenizer

    model, image_processor = vit_l14(torch.device("cpu"), torch.float32)
    # A byte-level BPE tokenizer whose ids fit CLIP's 49408 (the query below is 20 tokens; CLIP's own gives ~7)
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=_clip_tokenizer())
    print(f"   built CLIP ViT-L/14: {params(model):.3f} B parameters", flush=True)
    images = photos(args.clip_batch)
    for precision in precisions(model):
        embedder = ClipEmbedder(model, processor, Device(torch.device("cpu"), model.dtype), "clip-vit-l14 (random)")
        with torch.inference_mode():
            query = median_s(lambda e=embedder: e.embed_texts(["a red bicycle by a wall"]), max(3, args.repeats))
        add("CLIP ViT-L/14", f"{precision}, a /find query (text tower, one 20-token text)", f"{query * 1000:.0f} ms")
        seconds = median_s(lambda e=embedder: batched(e, images, args.clip_batch, torch.device("cpu")), args.repeats)
        add(
            "CLIP ViT-L/14",
            f"{precision}, indexing, batch of {args.clip_batch} 1280x960 photos (shrink + image tower)",
            f"{args.clip_batch / seconds:.2f} photos/s ({seconds / args.clip_batch:.2f} s a photo)",
        )


# -- a 2B-class VLM: Qwen2-VL-2B-Instruct -------------------------------------------------------------------


QWEN_IDS = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653)


def qwen2_vl_2b():
    """Qwen/Qwen2-VL-2B-Instruct's config.json, random weights, fp32."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=151936,
            hidden_size=1536,
            intermediate_size=8960,
            num_hidden_layers=28,
            num_attention_heads=12,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            max_window_layers=28,
            rms_norm_eps=1e-6,
            hidden_act="silu",
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
            bos_token_id=151643,
            eos_token_id=151645,
            pad_token_id=151643,
        ),
        vision_config=dict(
            depth=32,
            embed_dim=1280,
            mlp_ratio=4,
            num_heads=16,
            in_chans=3,
            hidden_size=1536,  # the merger's output: the language model's width
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        tie_word_embeddings=True,
        **QWEN_IDS,
    )
    torch.manual_seed(0)
    return Qwen2VLForConditionalGeneration(config).eval()


def vlm(args: argparse.Namespace) -> None:
    import gpu_suite

    if not fits("Qwen2-VL-2B fp32", 9.5):
        return
    model = qwen2_vl_2b()
    weights = gpu_suite.decode_bytes(model)
    print(
        f"   built Qwen2-VL-2B: {params(model):.3f} B parameters "
        f"({params(model.model.visual):.3f} B vision); {weights / 1e9:.2f} GB read per decode step in fp32",
        flush=True,
    )
    new_tokens = args.tokens

    def measure(inputs) -> tuple[float, float]:
        from transformers import LogitsProcessorList

        steps = gpu_suite.StepTimes(torch.device("cpu"))
        started = time.perf_counter()
        model.generate(
            **inputs,
            max_new_tokens=new_tokens + 1,
            min_new_tokens=new_tokens + 1,
            do_sample=False,
            pad_token_id=151643,
            logits_processor=LogitsProcessorList([steps]),
        )
        return steps.times[0] - started, (len(steps.times) - 1) / (steps.times[-1] - steps.times[0])

    for precision in precisions(model):
        dtype = next(model.parameters()).dtype
        inputs = gpu_suite.qwen_inputs(suite(), 1, dtype)
        with torch.inference_mode():
            warm = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
            model.generate(  # warm-up: a short text-only prompt, 2 tokens
                input_ids=warm["input_ids"][:, -8:],
                attention_mask=warm["attention_mask"][:, -8:],
                max_new_tokens=2,
                do_sample=False,
                pad_token_id=151643,
            )
            runs = [measure(inputs) for _ in range(args.vlm_repeats)]
        first = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        add(
            "Qwen2-VL-2B (2B-class VLM)",
            f"{precision}, one 448x448 photo + 24-token question (285 tokens), batch 1",
            f"first token {first:.1f} s; decode {rate:.2f} tok/s ({new_tokens} tokens)",
        )


# -- SDXL-turbo, part by part -------------------------------------------------------------------------------


def sdxl(args: argparse.Namespace) -> None:
    """stabilityai/sdxl-turbo's text encoders, UNet and VAE (configs as in bench/gpu_suite.py), one at a time."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    totals: dict[str, float] = {}
    parts: dict[str, dict[str, float]] = {"fp32": {}, "bf16": {}}
    ids = torch.randint(0, 49408, (1, 77), generator=torch.Generator().manual_seed(0))

    def text_encoders() -> None:
        common = dict(vocab_size=49408, max_position_embeddings=77, bos_token_id=0, eos_token_id=2, pad_token_id=1)
        one = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
                projection_dim=768,
                hidden_act="quick_gelu",
                **common,
            )
        ).eval()
        two = CLIPTextModelWithProjection(
            CLIPTextConfig(
                hidden_size=1280,
                intermediate_size=5120,
                num_hidden_layers=32,
                num_attention_heads=20,
                projection_dim=1280,
                hidden_act="gelu",
                **common,
            )
        ).eval()
        pair = torch.nn.ModuleList([one, two])
        for precision in precisions(pair):
            with torch.inference_mode():
                parts[precision]["text encoders"] = median_s(
                    lambda: (one(ids, output_hidden_states=True), two(ids, output_hidden_states=True)), args.repeats
                )

    def unet() -> None:
        torch.manual_seed(0)
        model = UNet2DConditionModel(
            sample_size=64,
            in_channels=4,
            out_channels=4,
            layers_per_block=2,
            block_out_channels=(320, 640, 1280),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(5, 10, 20),
            transformer_layers_per_block=(1, 2, 10),
            norm_num_groups=32,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            addition_embed_type_num_heads=64,
            cross_attention_dim=2048,
            projection_class_embeddings_input_dim=6 * 256 + 1280,
        ).eval()
        print(f"   built the SDXL UNet: {params(model):.3f} B parameters", flush=True)
        for precision in precisions(model):
            dtype = next(model.parameters()).dtype
            latents = torch.randn(1, 4, 64, 64, dtype=dtype)
            context = torch.randn(1, 77, 2048, dtype=dtype)
            added = {"text_embeds": torch.randn(1, 1280, dtype=dtype), "time_ids": torch.randn(1, 6, dtype=dtype)}
            with torch.inference_mode():
                parts[precision]["UNet, 1 step"] = median_s(
                    lambda latents=latents, context=context, added=added: model(
                        latents, torch.tensor([999]), encoder_hidden_states=context, added_cond_kwargs=added
                    ),
                    args.repeats,
                )
            print(f"   UNet {precision}: {parts[precision]['UNet, 1 step']:.1f} s; {load_average()}", flush=True)

    def vae() -> None:
        torch.manual_seed(0)
        model = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(128, 256, 512, 512),
            layers_per_block=2,
            norm_num_groups=32,
            sample_size=512,
            latent_channels=4,
            scaling_factor=0.13025,
        ).eval()
        for precision in precisions(model):
            latents = torch.randn(1, 4, 64, 64, dtype=next(model.parameters()).dtype)
            with torch.inference_mode():
                parts[precision]["VAE decode"] = median_s(lambda latents=latents: model.decode(latents), args.repeats)

    for name, build, needs in (("text encoders", text_encoders, 3.5), ("UNet", unet, 11.0), ("VAE", vae, 1.5)):
        if not fits(f"SDXL-turbo {name}", needs):
            continue
        build()
        gc.collect()
    for precision, found in parts.items():
        if found:
            totals[precision] = sum(found.values())
            detail = ", ".join(f"{k} {v:.1f} s" for k, v in found.items())
            whole = len(found) == 3
            add(
                "SDXL-turbo",
                f"{precision}, 512², 1 step, batch 1, part by part",
                f"{'one image ' if whole else 'parts measured: '}{totals[precision]:.1f} s ({detail})",
            )


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {"blip": blip, "clip": clip, "vlm": vlm, "sdxl": sdxl}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 timed call each, 8 decode tokens, batches of 4")
    parser.add_argument("--repeats", type=int, default=0, help="timed calls per case (default 3; 1 with --quick)")
    parser.add_argument("--tokens", type=int, default=0, help="VLM decode tokens (default 32; 8 with --quick)")
    parser.add_argument("--clip-batch", type=int, default=0, help="photos per indexing batch (default 8; 4 --quick)")
    parser.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument("--budget-s", type=float, default=1800, help="sections past it are skipped")
    args = parser.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.vlm_repeats = 1 if args.quick else 2
    args.tokens = args.tokens or (8 if args.quick else 32)
    args.clip_batch = args.clip_batch or (4 if args.quick else 8)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    print(machine("start"), flush=True)
    started = time.monotonic()
    for name in wanted:
        if time.monotonic() - started > args.budget_s:
            NOT_MEASURED.append((name, f"time budget ({args.budget_s:.0f} s) spent"))
            continue
        print(f"== {name} ({time.monotonic() - started:.0f} s in; {mem_available_gb():.1f} GB available)", flush=True)
        section_started = time.monotonic()
        try:
            SECTIONS[name](args)
        except Exception as exc:  # record it and go on with the next section
            traceback.print_exc()
            NOT_MEASURED.append((name, f"failed: {type(exc).__name__}: {exc}"[:300]))
        gc.collect()
        print(f"   ({time.monotonic() - section_started:.0f} s)", flush=True)
    print()
    print(
        f"Real-size models on this CPU, random weights built from the published configs; median of "
        f"{args.repeats} timed call(s) after a warm-up; wall {time.monotonic() - started:.0f} s"
    )
    print(machine("end"))
    print()
    print("| model | case | result |")
    print("|---|---|---|")
    for row in ROWS:
        print("| " + " | ".join(row) + " |")
    for what, why in NOT_MEASURED:
        print(f"| {what} | not measured | {why} |")


if __name__ == "__main__":
    main()
