"""The SDXL adapter and the safety checker on the tiny pipeline: seeds, batching, interrupts, withheld images."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from bot import texts
from bot.errors import from_worker
from bot.settings import Settings
from contract.errors import Interrupted, ModelUnavailable
from contract.requests import GeneratedImages, GenerateRequest, Task
from contract.worker import Interrupt
from models.pool import ModelPool
from models.registry import adapter_for
from models.sdxl import SdxlGenerator

SIZE = 128  # small and fast; the option parser's 256 px floor is for users, not for the adapter


def request(seed: int, prompt: str = "a red fox in the snow", **kw) -> GenerateRequest:
    options = dict(prompt=prompt, seed=seed, steps=1, width=SIZE, height=SIZE, guidance=0.0)
    options.update(kw)
    return GenerateRequest(**options)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def same_but_rounding(a: bytes, b: bytes) -> bool:
    """Equal pictures, allowing what batched matmuls do to float rounding: a few values off by one level."""
    x, y = pixels(a), pixels(b)
    return x.shape == y.shape and np.abs(x - y).max() <= 1 and (x != y).mean() < 0.001


def settings(tiny_sdxl, **kw) -> Settings:
    return Settings(telegram_bot_token="t", gen_model=str(tiny_sdxl), device="cpu", **kw)


@pytest.fixture(scope="module")
def pool(tiny_sdxl) -> ModelPool:
    return ModelPool(settings(tiny_sdxl, max_batch_size=8))


@pytest.fixture
def unet_calls(pool):
    """How many times the UNet ran (one call per diffusion step per pipeline call)."""
    calls: list[int] = []
    unet = pool.get(Task.GENERATE).pipe.unet
    handle = unet.register_forward_pre_hook(lambda module, args: calls.append(len(args[0])))
    yield calls
    handle.remove()


def draw(pool: ModelPool, *requests: GenerateRequest, interrupt: Interrupt | None = None) -> list[GeneratedImages]:
    return pool.run(Task.GENERATE, list(requests), interrupt or Interrupt())


def test_registry_picks_the_sdxl_adapter_from_model_index(tiny_sdxl):
    assert adapter_for(Task.GENERATE, str(tiny_sdxl)) is SdxlGenerator


def test_same_seed_same_png_new_seed_another(pool):
    (first,), (again,), (other,) = (
        draw(pool, request(7))[0].images,
        draw(pool, request(7))[0].images,
        draw(pool, request(8))[0].images,
    )
    assert first.seed == again.seed == 7 and other.seed == 8
    assert first.png == again.png
    assert first.png.startswith(b"\x89PNG") and Image.open(io.BytesIO(first.png)).size == (SIZE, SIZE)
    assert (pixels(first.png) != pixels(other.png)).mean() > 0.5


def test_a_batched_request_draws_what_it_draws_alone_in_one_pipeline_call(pool, unet_calls):
    alone = draw(pool, request(42))[0].images[0]
    count_alone = draw(pool, request(43))[0].images[0]
    unet_calls.clear()
    batch = draw(pool, request(1, "a cat"), request(42), request(7, "a dog on a beach", count=2), request(42, count=2))
    assert unet_calls == [6]  # six images, one step, one UNet call
    assert [[i.seed for i in r.images] for r in batch] == [[1], [42], [7, 8], [42, 43]]
    assert same_but_rounding(batch[1].images[0].png, alone.png)
    assert same_but_rounding(batch[3].images[1].png, count_alone.png)  # image i of a request is seed + i alone
    assert not same_but_rounding(batch[3].images[0].png, batch[3].images[1].png)
    info = Image.open(io.BytesIO(alone.png)).info["parameters"]
    assert info.startswith("a red fox in the snow\n")
    assert "Steps: 1, CFG scale: 0, Seed: 42" in info and f"Size: {SIZE}x{SIZE}, Model: sdxl" in info


def test_different_sizes_in_one_batch_run_as_separate_calls(pool, unet_calls):
    results = draw(pool, request(1), request(2, width=64), request(3))
    assert sorted(unet_calls) == [1, 2]
    sizes = [Image.open(io.BytesIO(r.images[0].png)).size for r in results]
    assert sizes == [(SIZE, SIZE), (64, SIZE), (SIZE, SIZE)]


def test_big_batches_are_split_to_max_batch_size_images(tiny_sdxl):
    small = ModelPool(settings(tiny_sdxl, max_batch_size=2))
    calls: list[int] = []
    small.get(Task.GENERATE).pipe.unet.register_forward_pre_hook(lambda m, args: calls.append(len(args[0])))
    (result,) = draw(small, request(5, count=3, width=64, height=64))
    assert calls == [2, 1] and [i.seed for i in result.images] == [5, 6, 7]


def test_an_interrupt_stops_between_diffusion_steps(pool, unet_calls):
    interrupt = Interrupt()
    unet = pool.get(Task.GENERATE).pipe.unet
    handle = unet.register_forward_hook(lambda module, args, output: interrupt.set())  # cancel during step 1
    try:
        with pytest.raises(Interrupted, match="after step 1 of 4"):
            draw(pool, request(3, steps=4), interrupt=interrupt)
    finally:
        handle.remove()
    assert len(unet_calls) == 1
    with pytest.raises(Interrupted):
        draw(pool, request(3), interrupt=interrupt)  # already set: nothing runs
    assert len(unet_calls) == 1


def test_a_negative_prompt_changes_the_picture_when_the_model_uses_guidance(pool, unet_calls):
    guided = dict(guidance=5.0, negative_prompt="blurry")
    blurry, text = draw(pool, request(9, **guided), request(9, **{**guided, "negative_prompt": "text"}))
    assert len(unet_calls) == 1 and unet_calls[0] == 4  # two images, doubled for classifier-free guidance
    assert not same_but_rounding(blurry.images[0].png, text.images[0].png)


def test_the_safety_checker_withholds_flagged_images_of_checked_requests_only(tiny_sdxl, flagging_safety_checker):
    checked_pool = ModelPool(settings(tiny_sdxl, safety_checker_model=str(flagging_safety_checker)))
    checked, unchecked = draw(checked_pool, request(11, count=2, check_safety=True), request(12))
    assert checked.images == () and checked.blocked == (11, 12)
    assert [i.seed for i in unchecked.images] == [12] and unchecked.blocked == ()


def test_a_checker_that_passes_images_lets_them_through(tiny_sdxl, checkpoints):
    from tests.support.tiny_models import build_sd_safety_checker

    lenient = build_sd_safety_checker(checkpoints / "lenient-checker")  # thresholds above any score
    (result,) = draw(ModelPool(settings(tiny_sdxl, safety_checker_model=str(lenient))), request(13, check_safety=True))
    assert [i.seed for i in result.images] == [13] and result.blocked == ()


def test_without_a_loadable_checker_nothing_is_drawn(tiny_sdxl, tmp_path):
    broken = ModelPool(settings(tiny_sdxl, safety_checker_model=str(tmp_path / "missing")))
    calls: list[int] = []
    broken.get(Task.GENERATE).pipe.unet.register_forward_pre_hook(lambda m, args: calls.append(1))
    with pytest.raises(ModelUnavailable) as caught:
        draw(broken, request(14, check_safety=True))
    assert (
        from_worker(caught.value).user_message == texts.SAFETY_CHECKER_UNAVAILABLE
    )  # the specific reason, not the generic one
    assert calls == []
    assert draw(broken, replace(request(14), check_safety=False))[0].images  # safety off: drawing works


def test_speed_up_fuses_qkv_goes_channels_last_compiles_the_unet_whole_and_draws_the_same(tiny_sdxl):
    import torch
    from diffusers.models.attention_processor import FusedAttnProcessor2_0

    from models.base import Device
    from models.sdxl import load_pipeline, speed_up

    device = Device(torch.device("cpu"), torch.float32)
    plain = SdxlGenerator(load_pipeline(str(tiny_sdxl), device), device, max_images=2, model_name="tiny")
    fast = SdxlGenerator(load_pipeline(str(tiny_sdxl), device), device, max_images=2, model_name="tiny")
    speed_up(fast.pipe, compile_backend="eager")  # dynamo captures the UNet whole; eager keeps the test quick
    assert isinstance(fast.pipe.unet, torch._dynamo.eval_frame.OptimizedModule)
    processors = fast.pipe.unet.attn_processors.values()
    assert processors and all(isinstance(p, FusedAttnProcessor2_0) for p in processors)
    conv = next(m for m in fast.pipe.unet.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        (before,), (after,) = plain.run([request(7)], Interrupt()), fast.run([request(7)], Interrupt())
    a, b = pixels(before.images[0].png), pixels(after.images[0].png)
    assert a.shape == b.shape and np.abs(a - b).max() <= 2  # fused matmuls round a little differently


def test_gen_compile_on_a_cpu_is_ignored_with_a_warning(tiny_sdxl, caplog):
    import torch

    from models.base import Device

    generator = SdxlGenerator.load(
        str(tiny_sdxl), Device(torch.device("cpu"), torch.float32), settings(tiny_sdxl, gen_compile=True)
    )
    assert not isinstance(generator.pipe.unet, torch._dynamo.eval_frame.OptimizedModule)
    assert "GEN_COMPILE=true needs a CUDA device" in caplog.text


# -- image-to-image ----------------------------------------------------------------------------------


def source_photo(seed: int = 0, size: tuple[int, int] = (200, 120)) -> Image.Image:
    from tests.support.chat import photo_bytes

    return Image.open(io.BytesIO(photo_bytes(seed, size))).convert("RGB")


def test_img2img_shares_the_loaded_modules_no_second_copy(pool):
    generator = pool.get(Task.GENERATE)
    text2img, img2img = generator.pipe, generator.img2img
    assert type(img2img).__name__ == "StableDiffusionXLImg2ImgPipeline"
    for name in ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler"):
        assert getattr(img2img, name) is getattr(text2img, name), name
    assert generator.img2img is img2img  # built once


def test_img2img_redraws_the_source_at_the_requested_size_deterministically(pool, unet_calls):
    photo = source_photo(1)
    redraw = request(5, steps=4, source=photo, strength=0.5, width=SIZE, height=64)
    (first,), (again,) = draw(pool, redraw)[0].images, draw(pool, redraw)[0].images
    assert first.png == again.png and Image.open(io.BytesIO(first.png)).size == (SIZE, 64)
    assert unet_calls == [1, 1, 1, 1]  # int(4 * 0.5) = 2 steps, twice
    assert b"Denoising strength: 0.5" in first.png
    other = draw(pool, replace(redraw, source=source_photo(2)))[0].images[0]
    assert (pixels(first.png) != pixels(other.png)).mean() > 0.1  # the source photo matters
    plain = draw(pool, replace(redraw, source=None))[0].images[0]
    assert (pixels(first.png) != pixels(plain.png)).mean() > 0.1


def test_img2img_and_text2img_requests_batch_apart(pool, unet_calls):
    results = draw(pool, request(1, steps=2), request(2, steps=2, source=source_photo(3), strength=0.5))
    assert [len(r.images) for r in results] == [1, 1]
    assert unet_calls == [1, 1, 1]  # 2 steps of text-to-image, then 1 step of image-to-image


def test_img2img_with_no_step_to_run_is_a_clear_error(pool):
    with pytest.raises(ValueError, match="run no step"):
        draw(pool, request(1, steps=1, source=source_photo(), strength=0.5))
