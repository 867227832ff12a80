"""Real-size models on a CPU: what a user without a GPU waits for, per model, in fp32 and bf16.

Every model is built HERE from its published config (bench/configs.py: the same values as on the hub), with
random weights: the same shapes, so the same compute and memory traffic as the real checkpoints; nothing is
downloaded (HF_HUB_OFFLINE=1). Each model is built once in fp32, timed, converted to bf16 in place and timed
again (DTYPE=auto picks bf16 on CPUs with AVX512-BF16 or AMX, fp32 elsewhere); each section runs in a process
of its own, so every model starts from a clean heap:

* blip: BLIP-large captions (Salesforce/blip-image-captioning-large, 384x384), one photo, 20 tokens, through the
  bot's BlipCaptioner (preprocessing and decoding included).
* clip: CLIP ViT-L/14 (openai/clip-vit-large-patch14): a /find query (the bot's ClipEmbedder.embed_texts, one
  text) and indexing (ClipEmbedder.embed_images on a batch of --clip-batch 1280x960 photos), photos/s.
* vlm: a 2B-class VLM, Qwen/Qwen2-VL-2B-Instruct: time to first token with one 448x448 photo (256 image
  tokens) and a 24-token question, and decode tokens/s, batch 1. (The bot's default VLM_IMAGE_PIXELS lets a
  photo reach ~1 MP, about 5x the image tokens.)
* sdxl: SDXL-turbo (stabilityai/sdxl-turbo) as the bot runs it, SdxlGenerator's pipeline call: 512x512, 1 step,
  no guidance, batch 1, both text encoders, the UNet step, the VAE decode and the PIL image; the parts are
  timed by hooks in the same calls. Needs ~14 GB free for fp32.
* vlm7b: the default VLM_MODEL, Qwen/Qwen2.5-VL-7B-Instruct, built directly in bf16 (16.6 GB; fp32 would be
  33 GB), the same case as vlm.

A section is skipped, and the report says so, when MemAvailable can't hold it with 2 GB to spare, or past
--budget-s. Each case is the median of --repeats calls after one warm-up call (the VLMs: of --vlm-repeats
generate() calls). The load average and CPU model are printed with the table.

    python bench/real_size_cpu.py --quick     # 1 timed call each, 8 decode tokens
    python bench/real_size_cpu.py             # 3 timed calls each (VLMs 2), 32 decode tokens
    python bench/real_size_cpu.py --only blip,clip
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import configs  # the published configs of the real-size models
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


def timed_calls(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls of `fn`, after one warm-up call."""
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def around(values: list[float], fmt: str = ".2f", unit: str = " s") -> str:
    """'median unit (min–max of n)' of repeated measurements, or the one value."""
    text = f"{statistics.median(values):{fmt}}{unit}"
    if len(values) > 1:
        text += f" ({min(values):{fmt}}–{max(values):{fmt}} of {len(values)})"
    return text


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
            times = timed_calls(lambda: captioner.run(request, Interrupt()), args.repeats)
        add("BLIP-large caption", f"{precision}, 1 photo (384²), {tokens} tokens", f"{around(times)} a caption")


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
            query = timed_calls(lambda e=embedder: e.embed_texts(["a red bicycle by a wall"]), max(3, args.repeats))
        add(
            "CLIP ViT-L/14",
            f"{precision}, a /find query (text tower, one 20-token text)",
            around([t * 1000 for t in query], ".0f", " ms"),
        )
        times = timed_calls(lambda e=embedder: batched(e, images, args.clip_batch, torch.device("cpu")), args.repeats)
        add(
            "CLIP ViT-L/14",
            f"{precision}, indexing, batch of {args.clip_batch} 1280x960 photos (shrink + image tower)",
            f"{around([args.clip_batch / t for t in times], unit=' photos/s')} "
            f"({statistics.median(times) / args.clip_batch:.2f} s a photo)",
        )


# -- VLMs: Qwen2-VL-2B-Instruct (a 2B-class VLM), Qwen2.5-VL-7B-Instruct (the default VLM_MODEL) -------------------


def qwen2_vl_2b():
    """Qwen/Qwen2-VL-2B-Instruct's config.json, random weights, fp32."""
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    config = Qwen2VLConfig(
        text_config=dict(**configs.QWEN_TEXT_IDS, **copy.deepcopy(configs.QWEN2_VL_2B_TEXT)),
        vision_config=dict(configs.QWEN2_VL_2B_VISION),
        tie_word_embeddings=True,
        **configs.QWEN_IDS,
    )
    torch.manual_seed(0)
    return Qwen2VLForConditionalGeneration(config).eval()


def time_vlm(args: argparse.Namespace, name: str, model, precision: str) -> None:
    """Time to first token and decode rate of `model` (batch 1, one 448x448 photo), as gpu_suite times it."""
    import gpu_suite

    inputs = gpu_suite.qwen_inputs(suite(), 1, next(model.parameters()).dtype)
    with torch.inference_mode():
        warm = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask")}
        model.generate(  # warm-up: a short text-only prompt, 2 tokens
            input_ids=warm["input_ids"][:, -8:],
            attention_mask=warm["attention_mask"][:, -8:],
            max_new_tokens=2,
            do_sample=False,
            pad_token_id=configs.QWEN_TEXT_IDS["pad_token_id"],
        )
        runs = [
            gpu_suite.first_token_and_rate(model, inputs, torch.device("cpu"), args.tokens)
            for _ in range(args.vlm_repeats)
        ]
    add(
        name,
        f"{precision}, one 448x448 photo + 24-token question (285 tokens), batch 1",
        f"first token {around([r[0] for r in runs], '.1f')}; "
        f"decode {around([r[1] for r in runs], unit=' tok/s')} ({args.tokens} tokens)",
    )


def vlm(args: argparse.Namespace) -> None:
    import gpu_suite

    if not fits("Qwen2-VL-2B fp32", 9.5):
        return
    model = qwen2_vl_2b()
    print(
        f"   built Qwen2-VL-2B: {params(model):.3f} B parameters ({params(model.model.visual):.3f} B vision); "
        f"{gpu_suite.decode_bytes(model) / 1e9:.2f} GB read per decode step in fp32",
        flush=True,
    )
    for precision in precisions(model):
        time_vlm(args, "Qwen2-VL-2B (2B-class VLM)", model, precision)


def vlm7b(args: argparse.Namespace) -> None:
    """Qwen2.5-VL-7B, built directly in bf16 (16.6 GB; fp32 would be 33 GB: more than this machine has)."""
    import gpu_suite

    if not fits("Qwen2.5-VL-7B bf16", 17.5):
        return
    NOT_MEASURED.append(("Qwen2.5-VL-7B fp32", "33 GB of weights: more than this machine's memory"))
    model, _ = gpu_suite.qwen_model(suite())
    print(
        f"   built Qwen2.5-VL-7B: {params(model):.3f} B parameters; "
        f"{gpu_suite.decode_bytes(model) / 1e9:.2f} GB read per decode step in bf16",
        flush=True,
    )
    time_vlm(args, "Qwen2.5-VL-7B (the default VLM_MODEL)", model, "bf16")


# -- SDXL-turbo: one pipeline through the bot's SdxlGenerator ----------------------------------------------------


class PartTimes:
    """Seconds spent in the pipeline's text encoders, UNet and VAE decode, summed over the calls since reset()."""

    def __init__(self, pipe) -> None:
        self.seconds: dict[str, float] = {"text encoders": 0.0, "UNet": 0.0, "VAE decode": 0.0}
        self._started: dict[str, float] = {}
        for part, modules in (("text encoders", (pipe.text_encoder, pipe.text_encoder_2)), ("UNet", (pipe.unet,))):
            for module in modules:
                module.register_forward_pre_hook(lambda *_, part=part: self._start(part))
                module.register_forward_hook(lambda *_, part=part: self._stop(part))
        decode = pipe.vae.decode

        def timed_decode(*args: Any, **kwargs: Any) -> Any:
            self._start("VAE decode")
            try:
                return decode(*args, **kwargs)
            finally:
                self._stop("VAE decode")

        pipe.vae.decode = timed_decode

    def _start(self, part: str) -> None:
        self._started[part] = time.perf_counter()

    def _stop(self, part: str) -> None:
        self.seconds[part] += time.perf_counter() - self._started.pop(part)

    def reset(self) -> None:
        self.seconds = dict.fromkeys(self.seconds, 0.0)


def sdxl(args: argparse.Namespace) -> None:
    """stabilityai/sdxl-turbo (configs in bench/configs.py) as the bot runs it: SdxlGenerator's pipeline call,
    512x512, 1 step, no guidance, batch 1: both text encoders, one UNet step, the scheduler, the VAE decode
    and the PIL image; the parts are timed by hooks in the same calls."""
    import gpu_suite

    from contract.requests import GenerateRequest
    from contract.worker import Interrupt
    from models.base import Device

    if not fits("SDXL-turbo pipeline fp32", 14.5):
        return
    generator, unet_params = gpu_suite.sdxl_generator(suite())
    pipe = generator.pipe
    print(f"   built SDXL-turbo: UNet {unet_params / 1e9:.3f} B parameters", flush=True)
    parts = PartTimes(pipe)
    request = GenerateRequest(
        "a photo of a red fox in the snow, golden hour", seed=1, steps=1, width=512, height=512, guidance=0.0
    )
    modules = torch.nn.ModuleList([pipe.text_encoder, pipe.text_encoder_2, pipe.unet, pipe.vae])
    for precision in precisions(modules):
        generator.device = Device(torch.device("cpu"), next(pipe.unet.parameters()).dtype)
        times = []
        with torch.inference_mode():
            generator._draw([request], [1], Interrupt())  # warm-up
            parts.reset()
            for _ in range(args.repeats):
                started = time.perf_counter()
                generator._draw([request], [1], Interrupt())
                times.append(time.perf_counter() - started)
        detail = ", ".join(f"{k} {v / args.repeats:.1f} s" for k, v in parts.seconds.items())
        add(
            "SDXL-turbo",
            f"{precision}, 512², 1 step, batch 1, the bot's pipeline call",
            f"{around(times, '.1f')} an image (mean parts: {detail})",
        )


SECTIONS: dict[str, Callable[[argparse.Namespace], None]] = {
    "blip": blip,
    "clip": clip,
    "vlm": vlm,
    "sdxl": sdxl,
    "vlm7b": vlm7b,
}


RESULT = "REAL_SIZE_ROWS "


def run_section(name: str, args: argparse.Namespace) -> None:
    try:
        SECTIONS[name](args)
    except Exception as exc:  # record it: the report says which section failed and why
        traceback.print_exc()
        NOT_MEASURED.append((name, f"failed: {type(exc).__name__}: {exc}"[:300]))


def in_child(name: str) -> None:
    """Runs one section in a fresh process: the memory a freed model leaves in the allocator's heap (glibc keeps
    much of it) can't starve the next model, and no section's state reaches another's timings."""
    command = [sys.executable, __file__, *sys.argv[1:], "--section", name]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(RESULT):
                found = json.loads(line[len(RESULT) :])
                ROWS.extend(tuple(row) for row in found["rows"])
                NOT_MEASURED.extend(tuple(item) for item in found["not_measured"])
            else:
                print(line, end="", flush=True)
    if child.returncode != 0:
        NOT_MEASURED.append((name, f"its process ended with exit status {child.returncode}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 timed call each, 8 decode tokens, batches of 4")
    parser.add_argument("--repeats", type=int, default=0, help="timed calls per case (default 3; 1 with --quick)")
    parser.add_argument("--tokens", type=int, default=0, help="VLM decode tokens (default 32; 8 with --quick)")
    parser.add_argument("--clip-batch", type=int, default=0, help="photos per indexing batch (default 8; 4 --quick)")
    parser.add_argument("--only", default="", help="comma-separated sections: " + ",".join(SECTIONS))
    parser.add_argument("--budget-s", type=float, default=1800, help="sections past it are skipped")
    parser.add_argument("--section", default="", help=argparse.SUPPRESS)  # run in a child process
    args = parser.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.vlm_repeats = 1 if args.quick else 2
    args.tokens = args.tokens or (8 if args.quick else 32)
    args.clip_batch = args.clip_batch or (4 if args.quick else 8)
    wanted = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    if args.section:  # a child process: run one section, hand its rows back on one line
        run_section(args.section, args)
        print(RESULT + json.dumps({"rows": ROWS, "not_measured": NOT_MEASURED}), flush=True)
        return
    print(machine("start"), flush=True)
    started = time.monotonic()
    for name in wanted:
        if time.monotonic() - started > args.budget_s:
            NOT_MEASURED.append((name, f"time budget ({args.budget_s:.0f} s) spent"))
            continue
        print(f"== {name} ({time.monotonic() - started:.0f} s in; {mem_available_gb():.1f} GB available)", flush=True)
        section_started = time.monotonic()
        in_child(name)
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
