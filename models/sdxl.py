"""SDXL text-to-image and image-to-image (stabilityai/sdxl-turbo, SDXL base and its fine-tunes) through diffusers.

Image-to-image runs SDXL's img2img pipeline built over the loaded text-to-image pipeline's own modules
(`AutoPipelineForImage2Image.from_pipe`): one copy of the weights serves both."""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, ClassVar, Self

import torch
from cachetools import TTLCache
from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image, StableDiffusionXLPipeline
from PIL import Image as PILImage
from PIL import ImageOps
from PIL.PngImagePlugin import PngInfo

from contract.errors import ErrorKind, Interrupted, ModelUnavailable
from contract.requests import GeneratedImage, GeneratedImages, GenerateRequest, Task

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline
    from PIL.Image import Image

    from bot.settings import Settings
    from contract.worker import Interrupt
    from models.base import Device
    from models.sd_safety import SafetyChecker

log = logging.getLogger(__name__)

# After the safety checker failed to load, refuse /gen (never draw unchecked) and retry this much later.
RETRY_CHECKER_AFTER_S = 60.0
NO_CHECKER = ErrorKind.SAFETY_CHECKER_UNAVAILABLE
# PNG is lossless at every level; level 1 encodes ~2x faster than the default 6 for ~10% more bytes,
# and encoding runs on the device thread, where every millisecond keeps the GPU idle.
PNG_COMPRESS_LEVEL = 1


class _Interrupted(Exception):
    """Raised from the step-end callback: leaves the pipeline between two diffusion steps."""


def _stop_when_interrupted(interrupt: Interrupt):
    def callback(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        if interrupt.is_set():
            raise _Interrupted(step + 1)
        return {}

    return callback


def load_pipeline(source: str, device: Device) -> StableDiffusionXLPipeline:
    """The pipeline at `source` on `device`, fp16 weights where the checkpoint has them (half the download)."""
    pipe = None
    if device.dtype == torch.float16:
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(source, dtype=device.dtype, variant="fp16")
        except (OSError, ValueError):
            log.info("%s has no fp16 variant; loading its default weights as fp16", source)
    if pipe is None:
        pipe = AutoPipelineForText2Image.from_pretrained(source, dtype=device.dtype)
    if not isinstance(pipe, StableDiffusionXLPipeline):
        raise ModelUnavailable(f"{source!r} loads as {type(pipe).__name__}, not an SDXL text-to-image pipeline")
    pipe.to(device.torch_device)
    pipe.set_progress_bar_config(disable=True)
    # Decode one image at a time: a batch of big images would otherwise need the VAE's memory times the
    # batch size, and a batched image decodes exactly as it would alone.
    pipe.vae.enable_slicing()
    return pipe


def fitted(source: Image, width: int, height: int) -> Image:
    """`source` as an RGB image of exactly width x height: scaled to cover it and centre-cropped (no stretching)."""
    image = source.convert("RGB")
    if image.size == (width, height):
        return image
    return ImageOps.fit(image, (width, height), method=PILImage.Resampling.LANCZOS)


def speed_up(pipe: StableDiffusionXLPipeline, *, compile_backend: str | None = "inductor") -> None:
    """GEN_COMPILE: the SDXL speed-ups diffusers documents for CUDA, applied in place.

    SDPA attention (diffusers' default on torch 2, kept by the fused processors), the query/key/value
    projections fused into one matmul (UNet and VAE), channels-last memory for their convolutions, and
    the UNet compiled whole (`fullgraph=True`, so a graph break fails here rather than slowing down).
    The first call at each new batch size compiles (about a minute on an H100; a second size makes the
    graph dynamic), so the first /gen after a start is slow. `compile_backend=None` skips compiling.
    """
    pipe.fuse_qkv_projections()  # sets FusedAttnProcessor2_0: scaled_dot_product_attention on fused QKV
    pipe.unet.to(memory_format=torch.channels_last)
    pipe.vae.to(memory_format=torch.channels_last)
    if compile_backend is not None:
        pipe.unet = torch.compile(pipe.unet, fullgraph=True, backend=compile_backend)


class SdxlGenerator:
    """Draws batches of /gen requests; each image has its own seeded generator, so a request's images
    are the same whether it runs alone or batched with others (up to float rounding of batched matmuls)."""

    task: ClassVar[Task] = Task.GENERATE

    def __init__(
        self,
        pipe: StableDiffusionXLPipeline,
        device: Device,
        *,
        max_images: int,
        model_name: str,
        checker_source: str = "",
    ) -> None:
        self.pipe = pipe
        self.device = device
        self.max_images = max(1, max_images)
        self.model_name = model_name
        self.checker_source = checker_source
        self._checker: SafetyChecker | None = None
        # Why the checker couldn't be loaded, remembered a while before trying again.
        self._checker_failed: TTLCache[str, str] = TTLCache(maxsize=1, ttl=RETRY_CHECKER_AFTER_S, timer=time.monotonic)
        self._checker_lock = threading.Lock()
        self._img2img: DiffusionPipeline | None = None
        # zlib releases the GIL: a batch's PNGs encode in parallel, on the CPU cores the GPU leaves idle.
        self._encoder = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="png")

    @classmethod
    def load(cls, source: str, device: Device, settings: Settings) -> Self:
        pipe = load_pipeline(source, device)
        if settings.gen_compile:
            if device.torch_device.type == "cuda":
                speed_up(pipe)
                log.info("GEN_COMPILE: fused QKV, channels-last, UNet compiled (the first images compile it)")
            else:
                log.warning("GEN_COMPILE=true needs a CUDA device; /gen runs uncompiled on %s", device)
        return cls(
            pipe,
            device,
            max_images=settings.max_batch_size,
            model_name=source.rstrip("/").rsplit("/", 1)[-1],
            checker_source=settings.safety_checker_model,
        )

    def run(self, requests: Sequence[GenerateRequest], interrupt: Interrupt) -> list[GeneratedImages]:
        if interrupt.is_set():
            raise Interrupted("interrupted before drawing")
        checker = self.checker() if any(r.check_safety for r in requests) else None  # before drawing anything
        drawn = self._draw_all(requests, interrupt)
        withheld = self._withheld(checker, requests, drawn)
        keep = [
            (i, seed, picture)
            for i, pictures in enumerate(drawn)
            for seed, picture in pictures
            if (i, seed) not in withheld
        ]
        pngs = dict(
            zip(
                ((i, seed) for i, seed, _ in keep),
                self._encoder.map(lambda item: self._png(item[2], requests[item[0]], item[1]), keep),
                strict=False,
            )
        )
        results = []
        for i, request in enumerate(requests):
            blocked = tuple(seed for seed, _ in drawn[i] if (i, seed) in withheld)
            if blocked:
                log.warning("safety checker withheld %d of %d images (seeds %s)", len(blocked), request.count, blocked)
            images = tuple(GeneratedImage(seed, pngs[i, seed]) for seed, _ in drawn[i] if (i, seed) in pngs)
            results.append(GeneratedImages(images, blocked))
        return results

    def _draw_all(self, requests: Sequence[GenerateRequest], interrupt: Interrupt) -> list[list[tuple[int, Image]]]:
        """(seed, picture) for every image of every request, in as few pipeline calls as the sizes allow."""
        drawn: list[list[tuple[int, Image]]] = [[] for _ in requests]
        # The queue batches equal keys only; grouping again keeps other callers (retries, Ray) correct.
        groups: dict[object, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(request.batch_key, []).append(index)
        for indices in groups.values():
            images = [(i, seed) for i in indices for seed in requests[i].seeds]
            for start in range(0, len(images), self.max_images):
                chunk = images[start : start + self.max_images]
                pictures = self._draw([requests[i] for i, _ in chunk], [seed for _, seed in chunk], interrupt)
                for (i, seed), picture in zip(chunk, pictures, strict=False):
                    drawn[i].append((seed, picture))
        return drawn

    @staticmethod
    def _withheld(
        checker: SafetyChecker | None, requests: Sequence[GenerateRequest], drawn: list[list[tuple[int, Image]]]
    ) -> set[tuple[int, int]]:
        """(request index, seed) of every image the checker flags, among the requests that asked for it."""
        if checker is None:
            return set()
        spots = [(i, seed, picture) for i, r in enumerate(requests) if r.check_safety for seed, picture in drawn[i]]
        flags = checker.flags([picture for _, _, picture in spots])
        return {(i, seed) for (i, seed, _), flagged in zip(spots, flags, strict=False) if flagged}

    def checker(self) -> SafetyChecker:
        """The safety checker, loaded on first use; raises ModelUnavailable (so nothing is drawn) without one."""
        with self._checker_lock:
            if self._checker is not None:
                return self._checker
            if not self.checker_source:
                # Requests only ask for checks when a checker is configured; be safe if settings disagree.
                raise ModelUnavailable("safety check asked for, but SAFETY_CHECKER_MODEL is empty", NO_CHECKER)
            failed = self._checker_failed.get("checker")
            if failed is not None:
                raise ModelUnavailable(failed, NO_CHECKER)
            from models.sd_safety import SafetyChecker

            try:
                self._checker = SafetyChecker.load(self.checker_source, self.device)
            except Exception as exc:  # any load failure: refuse /gen while safety is on, keep the bot up
                reason = f"safety checker {self.checker_source!r} could not be loaded: {type(exc).__name__}: {exc}"
                self._checker_failed["checker"] = reason
                log.error("%s", reason)
                raise ModelUnavailable(reason, NO_CHECKER) from None
            log.info("loaded safety checker %r", self.checker_source)
            return self._checker

    @property
    def img2img(self) -> DiffusionPipeline:
        """SDXL's image-to-image pipeline over this pipeline's modules (the same objects: no second copy)."""
        if self._img2img is None:
            self._img2img = AutoPipelineForImage2Image.from_pipe(self.pipe)
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img

    def _draw(self, requests: list[GenerateRequest], seeds: list[int], interrupt: Interrupt) -> list[Image]:
        """One pipeline call; `requests[k]` (repeated for its count) is drawn with `seeds[k]`."""
        first = requests[0]
        # CPU generators: the same seed gives the same picture on any GPU or CPU (diffusers' advice).
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        negative = [r.negative_prompt or "" for r in requests] if first.negative_prompt is not None else None
        common = {
            "prompt": [r.prompt for r in requests],
            "negative_prompt": negative,
            "num_inference_steps": first.steps,
            "guidance_scale": first.guidance,
            "generator": generators,
            "callback_on_step_end": _stop_when_interrupted(interrupt),
        }
        try:
            if first.source is not None:
                if first.denoising_steps < 1:  # the bot refuses these; diffusers would fail with a ValueError
                    raise ValueError(f"{first.steps} steps at strength {first.strength} run no step")
                sources = [fitted(r.source, r.width, r.height) for r in requests if r.source is not None]
                output = self.img2img(image=sources, strength=first.strength, **common)
            else:
                output = self.pipe(height=first.height, width=first.width, **common)
        except _Interrupted as stopped:
            raise Interrupted(f"generation stopped after step {stopped.args[0]} of {first.steps}") from None
        return list(output.images)

    def _png(self, picture: Image, request: GenerateRequest, seed: int) -> bytes:
        # The settings go into the file too, in the "parameters" text chunk most SD tools read.
        info = PngInfo()
        parameters = request.prompt
        if request.negative_prompt:
            parameters += f"\nNegative prompt: {request.negative_prompt}"
        parameters += (
            f"\nSteps: {request.steps}, CFG scale: {request.guidance:g}, Seed: {seed}, "
            f"Size: {request.width}x{request.height}, Model: {self.model_name}"
        )
        if request.source is not None:
            parameters += f", Denoising strength: {request.strength:g}"
        info.add_text("parameters", parameters)
        out = io.BytesIO()
        picture.save(out, "PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)
        return out.getvalue()
