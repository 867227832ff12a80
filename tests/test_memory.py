"""Memory that fits the device: DTYPE, MODEL_MEMORY_BUDGET_GB=auto, checkpoint estimates, refusing a model that
can never fit, recovering from out-of-memory errors, and lanes waiting for each other's models."""

from __future__ import annotations

import json
import logging
import struct
import threading
import time

import pytest
import torch
from PIL import Image

from bot import texts
from bot.errors import from_worker
from bot.settings import Settings
from contract.errors import ModelUnavailable, WorkerError
from contract.requests import Caption, CaptionRequest, ClassifyRequest, Task
from contract.worker import Interrupt
from models import base, memory
from models.base import Device
from models.pool import ModelPool, module_bytes

pytestmark = pytest.mark.timeout(120)
IMAGE = Image.new("RGB", (16, 16))
GIB = 1024**3


def settings_for(**kw) -> Settings:
    return Settings(telegram_bot_token="t", device="cpu", **kw)


# -- DTYPE ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fast_bf16", "expected"), [(True, torch.bfloat16), (False, torch.float32)])
def test_auto_dtype_on_cpu_is_bf16_only_where_the_cpu_has_it(monkeypatch, fast_bf16, expected):
    monkeypatch.setattr(base, "cpu_has_fast_bf16", lambda: fast_bf16)
    assert Device.resolve("cpu", "auto").dtype == expected
    assert Device.resolve("cpu", "float32").dtype == torch.float32  # an explicit DTYPE wins
    assert Device.resolve("cpu", "bfloat16").dtype == torch.bfloat16


def test_cpu_bf16_is_read_from_the_cpu_flags(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    flags = tmp_path / "cpuinfo"
    real_open = open

    def fake_open(path, *args, **kw):
        return real_open(flags if path == "/proc/cpuinfo" else path, *args, **kw)

    monkeypatch.setattr("builtins.open", fake_open)
    flags.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 amx_tile\n")
    assert base.cpu_has_fast_bf16()
    flags.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert not base.cpu_has_fast_bf16()


def test_dtype_setting_reaches_the_loaded_model(tiny_blip):
    pool = ModelPool(settings_for(caption_model=str(tiny_blip), dtype="bfloat16"))
    adapter = pool.get(Task.CAPTION)
    assert pool.device.dtype == torch.bfloat16
    assert {p.dtype for p in adapter.model.parameters()} == {torch.bfloat16}
    (caption,) = pool.run(Task.CAPTION, [CaptionRequest(IMAGE)], Interrupt())
    assert isinstance(caption, Caption)


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype"):
        settings_for(dtype="int8")


# -- the budget -------------------------------------------------------------------------------------


def test_budget_numbers_and_auto(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    cpu = torch.device("cpu")
    assert memory.resolve_budget(0.0, cpu) == 0  # no limit
    assert memory.resolve_budget(1.5, cpu) == int(1.5 * GIB)
    monkeypatch.setattr(memory, "available_bytes", lambda device: (20 * GIB, "20.0 GB of RAM available"))
    assert memory.resolve_budget("auto", cpu) == 16 * GIB  # less 20%
    assert "MODEL_MEMORY_BUDGET_GB=auto: 16.0 GB for models (20.0 GB of RAM available" in caplog.text
    monkeypatch.setattr(memory, "available_bytes", lambda device: (3 * GIB, "3.0 GB of RAM available"))
    assert memory.resolve_budget("auto", cpu) == 2 * GIB  # at least 1 GB of headroom


def test_auto_budget_is_the_default_and_reads_this_machine():
    assert Settings.model_fields["model_memory_budget_gb"].default == "auto"
    free, where = memory.available_bytes(torch.device("cpu"))
    assert free > 0 and "GB" in where
    assert 0 < memory.resolve_budget("auto", torch.device("cpu")) < free


def test_checkpoint_estimate_matches_the_loaded_model(tiny_blip):
    estimate = memory.checkpoint_bytes(str(tiny_blip), torch.float32)
    adapter = ModelPool(settings_for(caption_model=str(tiny_blip), model_memory_budget_gb=0)).get(Task.CAPTION)
    assert estimate == pytest.approx(module_bytes(adapter), rel=0.05)
    assert memory.checkpoint_bytes(str(tiny_blip), torch.bfloat16) == estimate // 2


def _safetensors(path, tensors: dict[str, tuple[str, list[int]]]) -> None:
    header = {
        name: {"dtype": dtype, "shape": shape, "data_offsets": [0, 0]} for name, (dtype, shape) in tensors.items()
    }
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


def test_estimate_counts_each_weight_set_once_and_keeps_quantized_sizes(tmp_path):
    unet = tmp_path / "unet"
    unet.mkdir()
    _safetensors(unet / "diffusion_pytorch_model.safetensors", {"w": ("F32", [1000, 10])})
    _safetensors(unet / "diffusion_pytorch_model.fp16.safetensors", {"w": ("F16", [1000, 10])})
    (unet / "diffusion_pytorch_model.bin").write_bytes(b"x" * 40_000)  # the same weights again, pickled
    _safetensors(tmp_path / "model.safetensors", {"qweight": ("I32", [100, 10]), "scales": ("F16", [100])})
    assert memory.checkpoint_bytes(str(tmp_path), torch.float16) == 10_000 * 2 + 1000 * 4 + 100 * 2
    assert memory.checkpoint_bytes(str(tmp_path / "missing"), torch.float16) == 0  # unknown: checked after loading


def test_a_model_that_can_never_fit_is_refused_before_loading(tiny_blip, tiny_vit, monkeypatch, caplog):
    from models.blip import BlipCaptioner

    def never(*args, **kw):
        raise AssertionError("loaded a model that can't fit")

    monkeypatch.setattr(BlipCaptioner, "load", never)
    budget = 0.15 / 1024  # 0.15 MB: the tiny ViT (0.08 MB) fits, the tiny BLIP (0.2 MB) never does
    pool = ModelPool(
        settings_for(caption_model=str(tiny_blip), classify_model=str(tiny_vit), model_memory_budget_gb=budget)
    )
    with pytest.raises(ModelUnavailable) as refused:
        pool.run(Task.CAPTION, [CaptionRequest(IMAGE)], Interrupt())
    assert from_worker(refused.value).user_message is texts.MODEL_TOO_BIG
    assert "needs about 0.2 MB in float32 but MODEL_MEMORY_BUDGET_GB=0.000146484375 allows 0.1 MB" in caplog.text
    assert "raise MODEL_MEMORY_BUDGET_GB" in caplog.text
    (labels,) = pool.run(Task.CLASSIFY, [ClassifyRequest(IMAGE)], Interrupt())  # the others keep working
    assert len(labels.labels) == 5


# -- out of memory ----------------------------------------------------------------------------------


@pytest.fixture
def two_models(tiny_blip, tiny_vit):
    pool = ModelPool(settings_for(caption_model=str(tiny_blip), classify_model=str(tiny_vit), model_memory_budget_gb=0))
    pool.get(Task.CLASSIFY)
    pool.get(Task.CAPTION)
    return pool


def oom_on_calls(adapter, calls: set[int]):
    """Make the adapter's run raise CUDA's out-of-memory error on the given calls (1 = the first)."""
    run = adapter.run
    count = [0]

    def flaky(requests, interrupt, *more):
        count[0] += 1
        if count[0] in calls:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return run(requests, interrupt, *more)

    adapter.run = flaky
    return count


def test_out_of_memory_unloads_the_other_models_and_retries_once(two_models, caplog):
    caplog.set_level(logging.INFO)
    pool = two_models
    calls = oom_on_calls(pool.get(Task.CAPTION), {1})
    (caption,) = pool.run(Task.CAPTION, [CaptionRequest(IMAGE)], Interrupt())
    assert isinstance(caption, Caption) and calls[0] == 2
    assert list(pool.stats()["loaded"]) == ["caption"]  # the classifier made room
    assert "unloaded classify model" in caplog.text and "after an out-of-memory error" in caplog.text
    assert pool.recoveries == 1


def test_a_second_out_of_memory_fails_that_job_alone(two_models):
    pool = two_models
    oom_on_calls(pool.get(Task.CAPTION), {1, 2})
    with pytest.raises(WorkerError) as failed:
        pool.run(Task.CAPTION, [CaptionRequest(IMAGE)], Interrupt())
    assert from_worker(failed.value).user_message is texts.OUT_OF_MEMORY
    (caption,) = pool.run(Task.CAPTION, [CaptionRequest(IMAGE)], Interrupt())  # the next job runs
    assert isinstance(caption, Caption)
    assert len(pool.run(Task.CLASSIFY, [ClassifyRequest(IMAGE)], Interrupt())[0].labels) == 5


def test_a_batch_out_of_memory_twice_raises_so_the_queue_runs_its_jobs_alone(two_models):
    pool = two_models
    oom_on_calls(pool.get(Task.CAPTION), {1, 2})
    with pytest.raises(torch.OutOfMemoryError):
        pool.run(Task.CAPTION, [CaptionRequest(IMAGE), CaptionRequest(IMAGE)], Interrupt())


def test_host_out_of_memory_while_loading_is_retried(tiny_blip, tiny_vit, monkeypatch):
    from models.blip import BlipCaptioner

    load = BlipCaptioner.load.__func__
    attempts = []

    def flaky_load(cls, *args):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 GB")
        return load(cls, *args)

    monkeypatch.setattr(BlipCaptioner, "load", classmethod(flaky_load))
    pool = ModelPool(settings_for(caption_model=str(tiny_blip), classify_model=str(tiny_vit), model_memory_budget_gb=0))
    pool.get(Task.CLASSIFY)
    (caption,) = pool.run(Task.CAPTION, [CaptionRequest(IMAGE)], Interrupt())
    assert isinstance(caption, Caption) and len(attempts) == 2
    assert list(pool.stats()["loaded"]) == ["caption"]


# -- lanes sharing one budget -------------------------------------------------------------------------


def test_a_model_running_on_one_lane_is_not_unloaded_for_another(tiny_blip, tiny_vit):
    # 0.25 MB holds the tiny BLIP (0.2 MB) or the tiny ViT (0.08 MB), not both.
    pool = ModelPool(
        settings_for(caption_model=str(tiny_blip), classify_model=str(tiny_vit), model_memory_budget_gb=0.25 / 1024)
    )
    captioner = pool.get(Task.CAPTION)
    release, running = threading.Event(), threading.Event()
    run = captioner.run

    def slow(requests, interrupt):
        running.set()
        release.wait(10)
        return run(requests, interrupt)

    captioner.run = slow
    results: dict[str, object] = {}
    caption_lane = threading.Thread(
        target=lambda: results.setdefault("caption", pool.run(Task.CAPTION, [CaptionRequest(IMAGE)], Interrupt()))
    )
    classify_lane = threading.Thread(
        target=lambda: results.setdefault("classify", pool.run(Task.CLASSIFY, [ClassifyRequest(IMAGE)], Interrupt()))
    )
    caption_lane.start()
    assert running.wait(10)
    classify_lane.start()
    time.sleep(0.5)
    assert "classify" not in results and list(pool.stats()["loaded"]) == ["caption"]  # it waits for room
    release.set()
    caption_lane.join(10)
    classify_lane.join(10)
    assert isinstance(results["caption"][0], Caption) and len(results["classify"][0].labels) == 5
    assert list(pool.stats()["loaded"]) == ["classify"]


def test_a_lane_waiting_for_room_gives_up_when_its_job_is_stopped(tiny_blip, tiny_vit):
    pool = ModelPool(
        settings_for(caption_model=str(tiny_blip), classify_model=str(tiny_vit), model_memory_budget_gb=0.25 / 1024)
    )
    held = pool._checkout(Task.CAPTION)  # a long answer on the other lane
    interrupt = Interrupt(deadline=time.monotonic() + 0.3)
    started = time.monotonic()
    with pytest.raises(Exception, match="waiting for another lane"):
        pool.run(Task.CLASSIFY, [ClassifyRequest(IMAGE)], interrupt)
    assert time.monotonic() - started < 3
    pool._checkin(held)


def test_two_lanes_loading_at_once_both_get_working_models(tiny_clip, tiny_qwen2_5_vl, tiny_blip):
    # from_pretrained() switches process-wide state; two loads at once once left weights on the meta device.
    for _ in range(3):
        pool = ModelPool(
            settings_for(
                clip_model=str(tiny_clip),
                vlm_model=str(tiny_qwen2_5_vl),
                caption_model=str(tiny_blip),
                model_memory_budget_gb=0,
            )
        )
        barrier = threading.Barrier(3)
        errors: list[BaseException] = []

        def load(task: Task, barrier=barrier, pool=pool, errors=errors) -> None:
            barrier.wait()
            try:
                pool.get(task)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=load, args=(task,)) for task in (Task.EMBED, Task.ASK, Task.CAPTION)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        for loaded in pool._loaded.values():
            assert all(p.device.type == "cpu" for p in loaded.adapter.model.parameters())
