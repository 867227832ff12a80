"""Photo indexing throughput: this project's batched CLIP path against the original tutorial's loop.

Both run side by side in one process, on the same photos, with a real-size CLIP ViT-L/14 built from its
config with random weights (the same speed as the real weights; nothing is downloaded):

* tutorial: for each photo, `processor(images=photo.resize((224, 224)))` then `model.get_image_features`,
  one photo per forward pass, fp32, autograd on: the loop of ../shared/origin-tutorial.md, unchanged.
* one at a time: the same loop under `torch.inference_mode()`, to tell what batching itself adds from
  what leaving autograd off adds.
* batched:  what the bot runs for indexing jobs: `shrink_for_embedding` (on the bot side, a thread per
  photo), then the worker's `ClipEmbedder.embed_images` on batches of --batch photos under
  `torch.inference_mode()`, in the device's precision (CPU fp32; CUDA fp16), normalised.

The paths are interleaved within every round (the order turned from round to round), each on the same
--batch photos, over --rounds rounds (7 by default): a neighbour's load that comes and goes hits every
path alike, and the ratio is taken per round, so the report gives the median ratio and its spread (IQR,
min-max) rather than one figure that whatever else the machine did decides. It also gives photos/s and
the achieved FLOP/s against the device's peak (a measured GEMM peak and, on a CPU, the nominal peak from
the core count and clock), and the load average and CPU model at the start and end (bench/_common.py).

    python bench/index_throughput.py                  # CPU: 7 rounds of 16 photos a path, ~8 minutes on 2 cores
    python bench/index_throughput.py --quick          # CPU: 7 rounds of 8 photos a path, ~3-4 minutes
    python bench/index_throughput.py --device cuda    # a CUDA GPU: fp16 batches against the fp32 loop
"""

from __future__ import annotations

import argparse
import copy
import io
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import configs  # the published configs of the real-size models
import torch
from _common import load_average, machine, spread  # sets HF_HUB_OFFLINE=1; puts the project on sys.path
from PIL import Image

from bot.imaging.decode import shrink_for_embedding
from models.base import Device
from models.clip import ClipEmbedder


def vit_l14(device: torch.device, dtype: torch.dtype):
    """openai/clip-vit-large-patch14's architecture (its config.json values), random weights."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    config = CLIPConfig(
        text_config=dict(configs.CLIP_L14_TEXT), vision_config=dict(configs.CLIP_L14_VISION), projection_dim=768
    )
    torch.manual_seed(0)
    model = CLIPModel(config).to(device, dtype).eval()
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    return model, processor


def photos(count: int) -> list[Image.Image]:
    """Phone-sized photos (1280x960) of random blocks and noise, decoded from JPEG like downloads."""
    rng = random.Random(0)
    result = []
    for _ in range(count):
        image = Image.effect_noise((1280, 960), 40).convert("RGB")
        for _ in range(12):
            x, y = rng.randrange(1200), rng.randrange(900)
            image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + 80, y + 60))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=90)
        result.append(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    return result


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def tutorial_loop(model, processor, images, device, *, inference_mode: bool = False) -> None:
    with torch.inference_mode(inference_mode):
        for image in images:
            inputs = processor(images=image.resize((224, 224)), return_tensors="pt").to(device)
            model.get_image_features(**inputs)[0]
    sync(device)


SHRINKERS = ThreadPoolExecutor(os.cpu_count() or 1)  # the bot shrinks each photo in asyncio.to_thread


def batched(embedder: ClipEmbedder, images, batch: int, device) -> None:
    for start in range(0, len(images), batch):
        chunk = list(SHRINKERS.map(shrink_for_embedding, images[start : start + batch]))
        with torch.inference_mode():
            embedder.embed_images(chunk)
    sync(device)


def flops_per_image(model, processor, image, device, dtype) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    pixels = processor(images=image, return_tensors="pt")["pixel_values"].to(device, dtype)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model.get_image_features(pixel_values=pixels)
    return float(counter.get_total_flops())


def gemm_peak(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul: the practical peak of this device in this precision."""
    n = 4096 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync(device)
    repeats = 50 if device.type == "cuda" else 8
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - started)


def nominal_cpu_peak() -> tuple[float, str]:
    """Cores x clock x FLOP/cycle (2 FMA units x 16 fp32 lanes x 2 with AVX-512, else 8 lanes with AVX2)."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    mhz = next((float(line.split(":")[1]) for line in cpuinfo.splitlines() if line.startswith("cpu MHz")), 0.0)
    lanes = 16 if "avx512f" in cpuinfo else 8 if "avx2" in cpuinfo else 4
    cores = torch.get_num_threads()
    per_cycle = 2 * lanes * 2
    return cores * mhz * 1e6 * per_cycle, f"{cores} cores x {mhz / 1000:.2f} GHz x {per_cycle} FLOP/cycle"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (at least 7 for a spread)")
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="batch size of the batched path, and photos per path per round (default 16 CPU, 64 GPU; 8 with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="batches of 8 on a CPU: about 3-4 minutes on 2 cores")
    parser.add_argument(
        "--cpu-bf16",
        choices=("auto", "yes", "no"),
        default="auto",
        help="also time the batched path with bf16 weights on the CPU (auto: when it has AMX, not with --quick)",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    gpu = device.type == "cuda"
    batch = args.batch or (64 if gpu else 8 if args.quick else 16)
    ours = Device(device, torch.float16 if gpu else torch.float32)
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    amx = "amx_bf16" in cpuinfo
    bf16 = not gpu and (args.cpu_bf16 == "yes" or (args.cpu_bf16 == "auto" and amx and not args.quick))
    print(machine("start"), flush=True)

    started = time.perf_counter()
    reference, processor = vit_l14(device, torch.float32)  # the tutorial's model: fp32
    model = reference if ours.dtype == torch.float32 else vit_l14(device, ours.dtype)[0]
    paths: dict[str, Callable[[list[Image.Image]], None]] = {
        "tutorial": lambda images: tutorial_loop(reference, processor, images, device),
        "one at a time": lambda images: tutorial_loop(reference, processor, images, device, inference_mode=True),
    }
    embedders = {"batched": ClipEmbedder(model, processor, ours, "clip-vit-large-patch14 (random)")}
    if bf16:
        cpu_bf16 = Device(device, torch.bfloat16)
        embedders["batched bf16"] = ClipEmbedder(
            copy.deepcopy(reference).to(torch.bfloat16), processor, cpu_bf16, "bf16"
        )
    for name, embedder in embedders.items():
        paths[name] = lambda images, embedder=embedder: batched(embedder, images, batch, device)
    print(
        f"built ViT-L/14 CLIP in {time.perf_counter() - started:.0f} s; device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if gpu else ""),
        flush=True,
    )

    # Every path gets the same photos each round: one full batch.
    images = photos(batch)
    peaks = [gemm_peak(device, ours.dtype)]
    for name, run in paths.items():  # warm-up
        run(images if name.startswith("batched") else images[:2])
    rates: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for round_ in range(args.rounds):
        # Interleaved, the order turned each round: a neighbour's load that comes and goes hits every path alike.
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        if round_ % 2:
            order.reverse()
        for name in order:
            t = time.perf_counter()
            paths[name](images)
            rates[name].append(len(images) / (time.perf_counter() - t))
        print(
            f"round {round_ + 1}/{args.rounds} ({', '.join(order)}): "
            + ", ".join(f"{name} {rates[name][-1]:.2f}" for name in names)
            + f" photos/s; batched/tutorial {rates['batched'][-1] / rates['tutorial'][-1]:.2f}x; {load_average()}",
            flush=True,
        )

    flops = flops_per_image(reference, processor, images[0], device, torch.float32)
    peaks.append(gemm_peak(device, ours.dtype))
    peak = max(peaks)
    precision = {
        "tutorial": "fp32, autograd on",
        "one at a time": "fp32, inference mode",
        "batched": str(ours.dtype).removeprefix("torch.") + ", inference mode",
        "batched bf16": "bf16 weights (AMX), inference mode",
    }
    dtype_name = str(ours.dtype).removeprefix("torch.")
    print()
    print(
        f"CLIP ViT-L/14 indexing (random weights, 1280x960 JPEG photos), {args.rounds} interleaved rounds of "
        f"{batch} photos per path; median, IQR and min-max of the rounds"
    )
    print(machine("end"))
    print()
    print(
        "| path | precision | photos per forward pass | photos/s median (IQR; min-max) | vs tutorial, per round "
        f"| GFLOP/s at the median | of {dtype_name} GEMM peak |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in names:
        median = statistics.median(rates[name])
        ratios = [a / b for a, b in zip(rates[name], rates["tutorial"], strict=True)]
        label = "tutorial loop" if name == "tutorial" else f"{name} (this bot)" if name == "batched" else name
        print(
            f"| {label} | {precision[name]} | {batch if name.startswith('batched') else 1} | {spread(rates[name])} "
            f"| {spread(ratios)}x | {median * flops / 1e9:.0f} | {median * flops / peak:.0%} |"
        )
    print()
    print(f"ViT-L/14 image tower: {flops / 1e9:.1f} GFLOP per photo (torch FlopCounterMode, 224x224).")
    print(
        f"GEMM peak measured here ({dtype_name} matmul, best of before and after): "
        f"{peak / 1e9:.0f} GFLOP/s (before {peaks[0] / 1e9:.0f}, after {peaks[1] / 1e9:.0f}; lower than the "
        "nominal peak when other processes share the CPU)."
    )
    if not gpu:
        nominal, how = nominal_cpu_peak()
        if nominal:
            print(f"Nominal fp32 CPU peak: {nominal / 1e9:.0f} GFLOP/s ({how}).")
    batching = [a / b for a, b in zip(rates["batched"], rates["one at a time"], strict=True)]
    overall = [a / b for a, b in zip(rates["batched"], rates["tutorial"], strict=True)]
    print(f"Ratio batched / tutorial, per round: {spread(overall)}x")
    print(f"Batching alone (batched / one at a time, inference mode both), per round: {spread(batching)}x")


if __name__ == "__main__":
    main()
