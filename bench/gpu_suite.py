"""One GPU proof run: every model of the bot at real size, random weights, built from config classes on the device.

No hub is needed (nor reachable on the GPU machines): each model is built from its real checkpoint's config,
written out below, directly on the device, and run through the bot's own code where the bot has code for it.
It prints one table and one JSON line (`GPU_SUITE_JSON {...}`):

* SDXL-turbo (stabilityai/sdxl-turbo's UNet, VAE and two text encoders), 512x512, 1 step, no guidance,
  batch 1, 4 and 8, VAE decode included (the bot's `SdxlGenerator._draw`: per-image CPU generators,
  sliced VAE, PIL images; PNG encoding excluded): eager, then with GEN_COMPILE's speed-ups
  (`models.sdxl.speed_up`: fused QKV, channels-last, the UNet torch.compile'd whole).
* Qwen2.5-VL-7B-Instruct in bf16: time to first token with a 448x448 photo (256 image tokens) and a short
  question, and decode tokens/s at batch 1 and 8, with the share of the memory-bandwidth limit
  (bytes of the weights read per decode step x steps/s / the card's peak bandwidth; the card is read from
  its name, e.g. H100 SXM 3.35 TB/s, or --peak-tbs). Last, if time is left: the same decode with a static
  cache, which transformers compiles (what a serving engine's CUDA graphs do).
* BLIP-large captions (Salesforce/blip-image-captioning-large) at batch 1 and 16, 20 tokens each, through
  the bot's `BlipCaptioner` (preprocessing and decoding included).
* CLIP ViT-L/14 indexing: the tutorial's one-photo loop (fp32, autograd on) against the bot's batched path
  (bench/index_throughput.py's two paths), photos/s.

Each section is guarded (a failure prints its traceback, is recorded, and the suite goes on; memory is
freed between sections), each skips itself when the time budget can't fit it, and a watchdog prints
what was measured and exits if the whole run passes --budget-s plus a minute.

    python bench/gpu_suite.py                         # one CUDA GPU, real sizes: under 8 minutes on an H100
    python bench/gpu_suite.py --device cpu --small    # small configs, to check the script itself (~1-2 min)

It needs torch (CUDA), transformers 5, accelerate, diffusers and Pillow, nothing of the bot's Telegram side.
The GPU machines lent to this project (python3 3.12 with torch, transformers and accelerate, no diffusers,
no network) take diffusers as a carried wheel: here `pip download --no-deps --only-binary=:all:
--python-version 3.12 -d .whl diffusers==0.42.1`, there `pip install -q --no-index --no-deps --target
/tmp/site .whl/*.whl && PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1 python3 bench/gpu_suite.py`.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
import configs  # the published configs of the real-size models
from _common import machine  # date, CPU model and load average next to every table; sets HF_HUB_OFFLINE=1

# Peak memory bandwidth (bytes/s) by card name, from the vendors' data sheets; the first match wins.
PEAK_BANDWIDTH = (
    ("H200", 4.8e12),
    ("H100 NVL", 3.9e12),
    ("H100 PCIe", 2.0e12),
    ("H100", 3.35e12),
    ("GH200", 4.0e12),
    ("B200", 8.0e12),
    ("A100-SXM4-80GB", 2.039e12),
    ("A100 80GB PCIe", 1.935e12),
    ("A100", 1.555e12),
    ("L40S", 0.864e12),
    ("L40", 0.864e12),
    ("L4", 0.3e12),
    ("A10G", 0.6e12),
    ("A10", 0.6e12),
    ("RTX 4090", 1.008e12),
    ("RTX 3090", 0.936e12),
    ("T4", 0.32e12),
    ("V100", 0.9e12),
)


def peak_bandwidth(name: str) -> float | None:
    for key, value in PEAK_BANDWIDTH:
        if key in name:
            return value
    return None


class Suite:
    """Rows of results, the sections' errors, and the time budget."""

    def __init__(self, device: torch.device, small: bool, budget_s: float, peak_bw: float | None) -> None:
        self.device = device
        self.small = small
        self.gpu = device.type == "cuda"
        self.name = torch.cuda.get_device_name(device) if self.gpu else "CPU"
        self.peak_bw = peak_bw if peak_bw else (peak_bandwidth(self.name) if self.gpu else None)
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.rows: list[dict[str, Any]] = []
        self.errors: dict[str, str] = {}
        self.skipped: dict[str, str] = {}
        self.current = ""
        self._printed = threading.Lock()
        self._reported = False

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def add(self, section: str, case: str, result: str, **values: Any) -> None:
        row = {"section": section, "case": case, "result": result, **values}
        self.rows.append(row)
        print(f"  {section} | {case} | {result}", flush=True)

    def run(self, name: str, fn: Callable[[Suite], None], needs_s: float) -> None:
        """Run one section, guarded: an error is printed and recorded, and the suite goes on."""
        if self.left() < needs_s:
            self.skipped[name] = f"time guard: {self.left():.0f} s left, needs ~{needs_s:.0f} s"
            print(f"== {name}: skipped ({self.skipped[name]})", flush=True)
            return
        self.current = name
        print(f"== {name} ({self.left():.0f} s of the budget left)", flush=True)
        started = time.monotonic()
        try:
            fn(self)
        except Exception as exc:  # any failure: record it, free the device, go on with the next section
            traceback.print_exc()
            self.errors[name] = f"{type(exc).__name__}: {exc}"[:500]
        finally:
            print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
            self.current = ""
            free(self.device)

    def report(self, why: str = "") -> None:
        with self._printed:
            if self._reported:
                return
            self._reported = True
            wall = time.monotonic() - self.started
            print()
            print(
                f"GPU suite on {self.name} ({self.device}), torch {torch.__version__}, "
                f"{'small configs' if self.small else 'real sizes'}, random weights; wall {wall:.0f} s"
                + (f"; {why}" if why else "")
            )
            print(machine())
            print()
            print("| section | case | result |")
            print("|---|---|---|")
            for row in self.rows:
                print(f"| {row['section']} | {row['case']} | {row['result']} |")
            for name, error in self.errors.items():
                print(f"| {name} | FAILED | {error} |")
            for name, reason in self.skipped.items():
                print(f"| {name} | skipped | {reason} |")
            data = {
                "device": self.name,
                "torch": torch.__version__,
                "small": self.small,
                "wall_s": round(wall, 1),
                "peak_bandwidth_tbs": self.peak_bw / 1e12 if self.peak_bw else None,
                "rows": self.rows,
                "errors": self.errors,
                "skipped": self.skipped,
                "stopped": why or None,
            }
            print()
            print("GPU_SUITE_JSON " + json.dumps(data), flush=True)


def verdict(value: float, op: str, target: float, unit: str) -> str:
    met = value <= target if op == "<=" else value >= target
    return f" (goal {op} {target:g} {unit}: {'met' if met else 'not met'})"


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median seconds of `repeats` calls after `warmup` ones."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def built_on(device: torch.device, dtype: torch.dtype, make: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """`make()` with its parameters created on `device` in `dtype` from the start (no CPU copy, no fp32 pass)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            module = make()
    finally:
        torch.set_default_dtype(previous)
    return module.to(device, dtype).eval()


# -- the device --------------------------------------------------------------------------------------------


def device_facts(suite: Suite) -> None:
    device = suite.device
    if suite.gpu:
        props = torch.cuda.get_device_properties(device)
        size = 1 << 30
        source = torch.empty(size, dtype=torch.uint8, device=device)
        seconds = timed(lambda: source.clone(), device, repeats=10, warmup=2)
        copy_bw = 2 * size / seconds  # read + write
        peak = f"{suite.peak_bw / 1e12:.2f} TB/s" if suite.peak_bw else "unknown (pass --peak-tbs)"
        suite.add(
            "device",
            suite.name,
            f"{props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs; "
            f"peak bandwidth {peak}; measured copy {copy_bw / 1e12:.2f} TB/s",
            copy_tbs=round(copy_bw / 1e12, 3),
            peak_tbs=suite.peak_bw / 1e12 if suite.peak_bw else None,
        )
    else:
        suite.add("device", "CPU", f"{torch.get_num_threads()} threads", threads=torch.get_num_threads())


# -- SDXL-turbo ----------------------------------------------------------------------------------------------


def sdxl_generator(suite: Suite):
    """stabilityai/sdxl-turbo's pipeline (its unet, vae, text_encoder, text_encoder_2 and scheduler configs)."""
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from models.base import Device
    from models.sdxl import SdxlGenerator
    from tests.support.tiny_models import _clip_tokenizer

    device = suite.device
    dtype = torch.float16 if suite.gpu else torch.float32
    tokenizer, tokenizer_2 = _clip_tokenizer(), _clip_tokenizer()  # byte-level BPE; ids fit CLIP's 49408
    ids = dict(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    if suite.small:
        text_1 = CLIPTextConfig(
            vocab_size=49408,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=64,
            **ids,
        )
        text_2 = CLIPTextConfig(
            vocab_size=49408,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            projection_dim=64,
            **ids,
        )
        unet_config = dict(
            sample_size=32,
            layers_per_block=1,
            block_out_channels=(32, 64),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4),
            transformer_layers_per_block=(1, 1),
            norm_num_groups=8,
            addition_time_embed_dim=8,
        )
        vae_config = dict(block_out_channels=(8, 8, 16, 16), layers_per_block=1, norm_num_groups=8, force_upcast=False)
    else:
        text_1 = CLIPTextConfig(**configs.CLIP_L14_TEXT, **ids)
        text_2 = CLIPTextConfig(**configs.OPENCLIP_BIGG_TEXT, **ids)
        unet_config, vae_config = configs.SDXL_UNET, configs.SDXL_VAE
    text_encoder = built_on(device, dtype, lambda: CLIPTextModel(text_1))
    text_encoder_2 = built_on(device, dtype, lambda: CLIPTextModelWithProjection(text_2))
    unet = built_on(
        device,
        dtype,
        lambda: UNet2DConditionModel(
            in_channels=4,
            out_channels=4,
            use_linear_projection=True,
            addition_embed_type="text_time",
            cross_attention_dim=text_1.hidden_size + text_2.hidden_size,
            projection_class_embeddings_input_dim=6 * unet_config["addition_time_embed_dim"] + text_2.projection_dim,
            **unet_config,
        ),
    )
    vae = built_on(
        device,
        dtype,
        lambda: AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            scaling_factor=0.13025,
            **vae_config,
        ),
    )
    scheduler = EulerAncestralDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="trailing",
        prediction_type="epsilon",
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.enable_slicing()  # as models.sdxl.load_pipeline does
    params = sum(p.numel() for p in unet.parameters())
    return SdxlGenerator(pipe, Device(device, dtype), max_images=8, model_name="sdxl-turbo (random)"), params


def sdxl_batches(suite: Suite) -> tuple[int, ...]:
    return (1, 4, 8) if not suite.small else (1, 2)


def sdxl_time(suite: Suite, generator, label: str, batches: tuple[int, ...], size: int, warmup: int) -> None:
    from contract.requests import GenerateRequest
    from contract.worker import Interrupt

    for batch in batches:
        request = GenerateRequest(
            "a photo of a red fox in the snow, golden hour",
            seed=1,
            steps=1,
            width=size,
            height=size,
            guidance=0.0,
            count=batch,
        )
        requests, seeds = [request] * batch, list(request.seeds)
        started = time.monotonic()
        with torch.inference_mode():
            seconds = timed(
                lambda requests=requests, seeds=seeds: generator._draw(requests, seeds, Interrupt()),
                suite.device,
                repeats=3 if batch > 1 else 5,
                warmup=warmup,
            )
        # Issue 13's goals on an H100: <= 60 ms at batch 1, >= 30 images/s batched.
        goal = (
            ""
            if suite.small
            else (
                verdict(seconds * 1000, "<=", 60, "ms")
                if batch == 1
                else verdict(batch / seconds, ">=", 30, "images/s")
            )
        )
        suite.add(
            "SDXL-turbo",
            f"{size}², 1 step, {label}, batch {batch}",
            f"{seconds * 1000:.0f} ms a call, {batch / seconds:.1f} images/s{goal}",
            model="sdxl-turbo",
            mode=label,
            batch=batch,
            ms=round(seconds * 1000, 1),
            images_per_s=round(batch / seconds, 2),
            wall_s=round(time.monotonic() - started, 1),
        )


def sdxl_eager(suite: Suite) -> None:
    generator, params = sdxl_generator(suite)
    print(f"   built: UNet {params / 1e9:.2f} B parameters", flush=True)
    sdxl_time(suite, generator, "eager", sdxl_batches(suite), 512 if not suite.small else 256, warmup=2)


def sdxl_compiled(suite: Suite) -> None:
    from models.sdxl import speed_up

    generator, _ = sdxl_generator(suite)
    backend = "inductor" if suite.gpu else "eager"  # on a CPU: the whole-graph capture only (quick)
    speed_up(generator.pipe, compile_backend=backend)
    label = "GEN_COMPILE" + ("" if backend == "inductor" else f" (backend {backend})")
    size = 512 if not suite.small else 256
    for batch in sdxl_batches(suite):
        # The first call compiles (~1 min on an H100), the second size once more (dynamic shapes), then no more.
        needs = (120 if batch == 1 else 75) if suite.gpu and not suite.small else 10
        if suite.left() < needs:
            suite.skipped[f"SDXL-turbo {label}, batch {batch}"] = f"time guard: {suite.left():.0f} s left"
            continue
        started = time.monotonic()
        sdxl_time(suite, generator, label, (batch,), size, warmup=2)
        print(f"   batch {batch}: compile + timing {time.monotonic() - started:.0f} s", flush=True)


# -- Qwen2.5-VL-7B -------------------------------------------------------------------------------------------


PRECISION = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}


def qwen_model(suite: Suite):
    """Qwen/Qwen2.5-VL-7B-Instruct's config.json, bf16 (or a small one with --small)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    if suite.small:
        text = dict(
            vocab_size=152064,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [4, 2, 2]},
        )
        vision = dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, fullatt_block_indexes=[1]
        )
    else:
        text, vision = configs.QWEN25_VL_7B_TEXT, configs.QWEN25_VL_7B_VISION
    config = Qwen2_5_VLConfig(
        text_config=dict(**configs.QWEN_TEXT_IDS, **copy.deepcopy(text)),
        vision_config=dict(
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            window_size=112,
            in_chans=3,
            hidden_act="silu",
            **vision,
        ),
        tie_word_embeddings=False,
        **configs.QWEN_IDS,
    )
    dtype = torch.bfloat16 if suite.gpu or not suite.small else torch.float32
    return built_on(suite.device, dtype, lambda: Qwen2_5_VLForConditionalGeneration(config)), dtype


def qwen_inputs(suite: Suite, batch: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """A chat prompt with one 448x448 photo (32x32 patches of 14 -> 256 tokens) and a 24-token question."""
    side = 32 if not suite.small else 8
    merged = side * side // 4
    generator = torch.Generator().manual_seed(0)
    question = torch.randint(0, 150000, (24,), generator=generator).tolist()
    ids = (
        [151644, 872, 198, configs.QWEN_IDS["vision_start_token_id"]]
        + [configs.QWEN_IDS["image_token_id"]] * merged
        + [configs.QWEN_IDS["vision_end_token_id"]]
        + question
        + [151645, 198, 151644, 77091, 198]
    )
    input_ids = torch.tensor([ids] * batch, device=suite.device)
    pixels = torch.randn(batch * side * side, 3 * 2 * 14 * 14, generator=generator).to(suite.device, dtype)
    grid = torch.tensor([[1, side, side]] * batch, device=suite.device)
    return {
        "input_ids": input_ids,
        "attention_mask": torch.ones_like(input_ids),
        "pixel_values": pixels,
        "image_grid_thw": grid,
    }


class StepTimes:
    """A logits processor that notes when each generation step's logits are ready (the device synced)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: list[float] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        sync(self.device)
        self.times.append(time.perf_counter())
        return scores


def decode_bytes(model) -> int:
    """Bytes read per decode step: the language model's weights (but the embedding, of which one row is
    read per token) and the output head."""
    language = model.model.language_model
    embed = language.embed_tokens.weight
    total = sum(p.numel() * p.element_size() for p in language.parameters()) - embed.numel() * embed.element_size()
    return total + sum(p.numel() * p.element_size() for p in model.lm_head.parameters())


def first_token_and_rate(model, inputs, device: torch.device, new_tokens: int, **extra: Any) -> tuple[float, float]:
    """(seconds to the first token, decode steps/s) of one generate() call, timed step by step."""
    from transformers import LogitsProcessorList

    steps = StepTimes(device)
    started = time.perf_counter()
    # min_new_tokens: random weights may emit the end token at once; every run decodes the same count.
    model.generate(
        **inputs,
        max_new_tokens=new_tokens + 1,
        min_new_tokens=new_tokens + 1,
        do_sample=False,
        pad_token_id=configs.QWEN_TEXT_IDS["pad_token_id"],
        logits_processor=LogitsProcessorList([steps]),
        **extra,
    )
    times = steps.times
    return times[0] - started, (len(times) - 1) / (times[-1] - times[0])


def qwen_generate(suite: Suite, label: str, static: bool) -> None:
    model, dtype = qwen_model(suite)
    weights = decode_bytes(model)
    print(
        f"   built: {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters; "
        f"{weights / 1e9:.2f} GB read per decode step",
        flush=True,
    )
    new_tokens = 64 if not suite.small else 8
    extra = {"cache_implementation": "static"} if static else {}

    def measure(inputs) -> tuple[float, float]:
        return first_token_and_rate(model, inputs, suite.device, new_tokens, **extra)

    for batch in (1, 8):
        if suite.left() < ((100 if static else 45) if suite.gpu and not suite.small else 5):
            suite.skipped[f"Qwen2.5-VL-7B {label}, batch {batch}"] = f"time guard: {suite.left():.0f} s left"
            continue
        inputs = qwen_inputs(suite, batch, dtype)
        with torch.inference_mode():
            measure(inputs)  # warm-up (with a static cache: the compiling)
            runs = [measure(inputs) for _ in range(2)]
        if static:  # generate() compiles a static cache's decoding step itself, where it can (CUDA)
            label = "static cache, " + (
                "compiled by transformers" if hasattr(model, "_compiled_call") else "not compiled"
            )
        first = statistics.median(r[0] for r in runs)
        steps_per_s = statistics.median(r[1] for r in runs)
        share = weights * steps_per_s / suite.peak_bw if suite.peak_bw else None
        share_text = f", {share:.0%} of the {suite.peak_bw / 1e12:.2f} TB/s bandwidth limit" if share else ""
        if share and batch == 1 and not suite.small:
            share_text += verdict(share * 100, ">=", 60, "%")  # issue 13's goal for decode at batch 1
        suite.add(
            f"Qwen2.5-VL-7B {PRECISION[dtype]}",
            f"{label}, batch {batch}",
            f"first token {first * 1000:.0f} ms; decode {steps_per_s:.1f} tok/s per answer, "
            f"{steps_per_s * batch:.0f} tok/s in all{share_text}",
            model="qwen2.5-vl-7b",
            mode=label,
            batch=batch,
            ttft_ms=round(first * 1000, 1),
            decode_tok_s=round(steps_per_s, 2),
            decode_tok_s_total=round(steps_per_s * batch, 1),
            bandwidth_share=round(share, 3) if share else None,
            bytes_per_step=weights,
        )
        del inputs
        free(suite.device)


def qwen_eager(suite: Suite) -> None:
    qwen_generate(suite, "eager (dynamic cache)", static=False)


def qwen_static(suite: Suite) -> None:
    qwen_generate(suite, "static cache", static=True)


# -- BLIP-large captions ---------------------------------------------------------------------------------------


def blip_captioner(suite: Suite, max_new_tokens: int):
    """Salesforce/blip-image-captioning-large's config, through the bot's BlipCaptioner."""
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor

    from models.base import Device
    from models.blip import BlipCaptioner
    from tests.support.tiny_models import _bert_tokenizer, _image_processor, _wordpiece_vocab

    vocab = _wordpiece_vocab(specials=("[DEC]", "[ENC]"))
    tokenizer = _bert_tokenizer(vocab, bos_token="[DEC]", extra_special_tokens=["[ENC]"], model_max_length=512)
    size = 384 if not suite.small else 64
    processor = BlipProcessor(
        image_processor=_image_processor("BlipImageProcessor", size={"height": size, "width": size}),
        tokenizer=tokenizer,
    )
    ids = dict(
        bos_token_id=vocab["[DEC]"],
        eos_token_id=vocab["[SEP]"],
        sep_token_id=vocab["[SEP]"],
        pad_token_id=vocab["[PAD]"],
    )
    if suite.small:
        text = dict(
            hidden_size=64, encoder_hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4
        )
        vision = dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=size,
            patch_size=16,
        )
    else:
        text, vision = configs.BLIP_LARGE_TEXT, dict(configs.BLIP_LARGE_VISION, image_size=size)
    config = BlipConfig(
        text_config=dict(vocab_size=30524, max_position_embeddings=512, **ids, **text),
        vision_config=vision,
        projection_dim=512,
        image_text_hidden_size=256,
    )
    dtype = torch.float16 if suite.gpu else torch.float32
    model = built_on(suite.device, dtype, lambda: BlipForConditionalGeneration(config))
    model.generation_config.update(min_new_tokens=max_new_tokens, **ids)  # every caption the same length
    return BlipCaptioner(model, processor, Device(suite.device, dtype), max_new_tokens)


def blip(suite: Suite) -> None:
    from index_throughput import photos

    from contract.requests import CaptionRequest
    from contract.worker import Interrupt

    tokens = 20
    captioner = blip_captioner(suite, tokens)
    images = photos(16 if not suite.small else 4)
    for batch in (1, 16) if not suite.small else (1, 4):
        requests = [CaptionRequest(images[i % len(images)]) for i in range(batch)]
        with torch.inference_mode():
            seconds = timed(
                lambda requests=requests: captioner.run(requests, Interrupt()), suite.device, repeats=3, warmup=1
            )
        suite.add(
            "BLIP-large captions",
            f"batch {batch}, {tokens} tokens each",
            f"{seconds * 1000:.0f} ms a batch, {batch / seconds:.1f} captions/s",
            model="blip-large",
            batch=batch,
            ms=round(seconds * 1000, 1),
            captions_per_s=round(batch / seconds, 2),
        )


# -- CLIP ViT-L/14 indexing ------------------------------------------------------------------------------------


def clip(suite: Suite) -> None:
    import index_throughput as bench

    from models.base import Device
    from models.clip import ClipEmbedder

    device = suite.device
    dtype = torch.float16 if suite.gpu else torch.float32
    if suite.small:
        from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

        config = CLIPConfig(
            text_config=dict(
                hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, projection_dim=64
            ),
            vision_config=dict(
                hidden_size=64,
                intermediate_size=128,
                num_hidden_layers=2,
                num_attention_heads=4,
                image_size=224,
                patch_size=32,
                projection_dim=64,
            ),
            projection_dim=64,
        )
        reference = built_on(device, torch.float32, lambda: CLIPModel(config))
        processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    else:
        reference, processor = bench.vit_l14(device, torch.float32)  # the tutorial's model: fp32
    model = reference if dtype == torch.float32 else copy.deepcopy(reference).to(dtype)
    embedder = ClipEmbedder(model, processor, Device(device, dtype), "clip-vit-large-patch14 (random)")
    count, batch = (128, 64) if not suite.small else (8, 8)
    images = bench.photos(count)
    bench.tutorial_loop(reference, processor, images[:2], device)  # warm-up
    bench.batched(embedder, images[:batch], batch, device)
    started = time.perf_counter()
    bench.tutorial_loop(reference, processor, images, device)
    tutorial = count / (time.perf_counter() - started)
    started = time.perf_counter()
    bench.batched(embedder, images, batch, device)
    ours = count / (time.perf_counter() - started)
    precision = str(dtype).removeprefix("torch.")
    suite.add(
        "CLIP ViT-L/14 indexing",
        "tutorial loop (1 photo a pass, fp32, autograd on)",
        f"{tutorial:.1f} photos/s",
        model="clip-vit-l14",
        path="tutorial",
        photos_per_s=round(tutorial, 2),
    )
    suite.add(
        "CLIP ViT-L/14 indexing",
        f"this bot: batches of {batch}, {precision}, inference mode",
        f"{ours:.1f} photos/s, {ours / tutorial:.1f}x the tutorial",
        model="clip-vit-l14",
        path="batched",
        photos_per_s=round(ours, 2),
        vs_tutorial=round(ours / tutorial, 2),
    )


# -- main -----------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--small", action="store_true", help="small configs (a quick check of the script)")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=0.0,
        help="time budget in seconds (default 390 on a GPU, 300 on a CPU); a watchdog stops "
        "the run 60 s after it, so a GPU run ends within 8 minutes",
    )
    parser.add_argument(
        "--peak-tbs",
        type=float,
        default=0.0,
        help="the card's peak memory bandwidth in TB/s (default: read from its name)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated sections: device,sdxl,qwen,blip,clip,sdxl-compiled,qwen-static"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device here: run with --device cpu --small")
    budget = args.budget_s or (390.0 if device.type == "cuda" else 300.0)
    suite = Suite(device, args.small, budget, args.peak_tbs * 1e12 if args.peak_tbs else None)

    def watchdog() -> None:
        suite.report(f"stopped by the watchdog in section {suite.current or '-'} after {budget + 60:.0f} s")
        os._exit(3)

    timer = threading.Timer(budget + 60, watchdog)
    timer.daemon = True
    timer.start()
    print(machine("start"), flush=True)
    print(
        f"GPU suite: {suite.name}, budget {budget:.0f} s, {'small' if args.small else 'real-size'} models", flush=True
    )
    gpu_big = suite.gpu and not suite.small
    # (name, function, seconds it needs at least): the required measurements first, compiling last.
    sections = [
        ("device", device_facts, 5),
        ("sdxl", sdxl_eager, 40 if gpu_big else 10),
        ("qwen", qwen_eager, 70 if gpu_big else 10),
        ("blip", blip, 30 if gpu_big else 10),
        ("clip", clip, 40 if gpu_big else 10),
        ("sdxl-compiled", sdxl_compiled, 150 if gpu_big else 20),
        ("qwen-static", qwen_static, 150 if gpu_big else 20),  # on a CPU: the static cache, not compiled
    ]
    wanted = {s.strip() for s in args.only.split(",") if s.strip()}
    for name, fn, needs in sections:
        if not wanted or name in wanted:
            suite.run(name, fn, needs)
    timer.cancel()
    suite.report()
    sys.exit(1 if suite.errors else 0)


if __name__ == "__main__":
    main()
