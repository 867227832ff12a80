"""The CLIP and Chinese-CLIP adapters on tiny checkpoints, and indexing batches through the real queue and worker."""

from __future__ import annotations

import asyncio

import pytest
import torch
from PIL import Image

from bot.imaging.decode import decode_image
from bot.queue.gpu_queue import GpuQueue
from bot.queue.jobs import Job, Lane
from bot.queue.local import LocalBackend
from bot.settings import Settings
from contract.requests import EmbedImageRequest, EmbedTextRequest, Task
from contract.worker import Interrupt
from models.base import Device
from models.chinese_clip import ChineseClipEmbedder
from models.clip import ClipEmbedder
from models.registry import adapter_for
from tests.support.chat import photo_bytes

CPU = Device(torch.device("cpu"), torch.float32)


def photos(n: int, start: int = 0) -> list[Image.Image]:
    return [decode_image(photo_bytes(start + i), 40_000_000) for i in range(n)]


@pytest.fixture(scope="module")
def clip(tiny_clip) -> ClipEmbedder:
    return ClipEmbedder.load(str(tiny_clip), CPU)


def test_the_adapter_is_chosen_from_the_checkpoint_config(tiny_clip, tiny_chinese_clip):
    assert adapter_for(Task.EMBED, str(tiny_clip)) is ClipEmbedder
    assert adapter_for(Task.EMBED, str(tiny_chinese_clip)) is ChineseClipEmbedder


def test_image_embeddings_are_unit_vectors_and_a_batch_equals_one_at_a_time(clip):
    images = photos(4)
    with torch.inference_mode():
        batch = clip.run([EmbedImageRequest(i) for i in images], Interrupt())
        single = [clip.run([EmbedImageRequest(i)], Interrupt())[0] for i in images]
    assert [e.dim for e in batch] == [clip.dim] * 4 == [16] * 4
    for together, alone in zip(batch, single, strict=False):
        assert sum(x * x for x in together.vector) == pytest.approx(1.0, abs=1e-5)
        assert together.vector == pytest.approx(alone.vector, abs=1e-5)
        assert together.model == clip.source
    assert batch[0].vector != pytest.approx(batch[1].vector, abs=1e-3)


def test_embeddings_match_the_reference_clip_computation(clip, tiny_clip):
    from transformers import CLIPModel, CLIPProcessor

    model, processor = CLIPModel.from_pretrained(tiny_clip).eval(), CLIPProcessor.from_pretrained(tiny_clip)
    image = photos(1)[0]
    with torch.inference_mode():
        ours = clip.run([EmbedImageRequest(image), EmbedTextRequest("a red car")], Interrupt())
        reference_image = model.get_image_features(**processor(images=image, return_tensors="pt")).pooler_output[0]
        reference_text = model.get_text_features(**processor(text=["a red car"], return_tensors="pt")).pooler_output[0]
    for embedding, reference in zip(ours, (reference_image, reference_text), strict=False):
        expected = torch.nn.functional.normalize(reference, dim=-1)
        assert torch.tensor(embedding.vector) == pytest.approx(expected, abs=1e-5)
    # Dot products of unit vectors are the cosine similarities of the CLIP paper.
    assert sum(a * b for a, b in zip(ours[0].vector, ours[1].vector, strict=False)) == pytest.approx(
        torch.cosine_similarity(reference_image, reference_text, dim=0).item(), abs=1e-5
    )


def test_long_queries_are_truncated_not_refused(clip):
    with torch.inference_mode():
        embedding = clip.run([EmbedTextRequest("a very long query " * 60)], Interrupt())[0]
    assert embedding.dim == 16


def test_chinese_clip_embeds_chinese_words(tiny_chinese_clip):
    from transformers import ChineseCLIPModel, ChineseCLIPProcessor

    adapter = ChineseClipEmbedder.load(str(tiny_chinese_clip), CPU)
    processor = ChineseCLIPProcessor.from_pretrained(tiny_chinese_clip)
    tokens = processor.tokenizer.tokenize("海边的猫")
    assert tokens == ["海", "边", "的", "猫"]  # real Chinese tokens, not [UNK]
    model = ChineseCLIPModel.from_pretrained(tiny_chinese_clip).eval()
    with torch.inference_mode():
        cat, dog, image = adapter.run(
            [EmbedTextRequest("海边的猫"), EmbedTextRequest("一只狗"), EmbedImageRequest(photos(1)[0])], Interrupt()
        )
        reference = model.get_text_features(**processor(text=["海边的猫"], return_tensors="pt")).pooler_output[0]
    assert torch.tensor(cat.vector) == pytest.approx(torch.nn.functional.normalize(reference, dim=-1), abs=1e-5)
    assert cat.vector != pytest.approx(dog.vector, abs=1e-3)
    assert image.dim == cat.dim == adapter.dim


async def test_sixteen_photos_arriving_together_take_fewer_forward_passes_than_photos(tiny_clip, tmp_path):
    """The real queue, the real worker thread and the tiny CLIP: count the image tower's forward passes."""
    settings = Settings(
        telegram_bot_token="t", clip_model=str(tiny_clip), device="cpu", data_dir=tmp_path, max_batch_size=8
    )
    backend = LocalBackend(settings)
    await backend.start()
    queue = GpuQueue(
        backend, max_pending=100, max_per_user=5, job_timeout_s=60, max_batch_size=8, background_window_s=1.0
    )  # generous, so a loaded test machine still fills both batches
    await queue.start()
    adapter = backend._pool.get(Task.EMBED)
    passes: list[int] = []
    forward = adapter.model.get_image_features

    def counted(pixel_values, **kwargs):
        passes.append(pixel_values.shape[0])
        return forward(pixel_values=pixel_values, **kwargs)

    adapter.model.get_image_features = counted
    try:
        tickets = []
        for _i, image in enumerate(photos(16)):  # as their downloads finish, a few ms apart
            tickets.append(queue.submit(Job(EmbedImageRequest(image), user_id=1, chat_id=1, lane=Lane.BACKGROUND)))
            await asyncio.sleep(0.002)
        embeddings = await asyncio.gather(*(t.result() for t in tickets))
    finally:
        await queue.close()
        await backend.close()
    assert sum(passes) == 16 and len(passes) < 16, passes
    assert len(passes) == 2
    with torch.inference_mode():
        alone = adapter.run([EmbedImageRequest(photos(1, start=5)[0])], Interrupt())[0]
    assert embeddings[5].vector == pytest.approx(alone.vector, abs=1e-5)  # each result went to its own job


def test_big_batches_are_preprocessed_on_several_threads_with_the_same_result(clip, monkeypatch):
    import models.clip

    monkeypatch.setattr(models.clip, "PREPROCESS_THREADS", 4)
    images = photos(24)
    threaded = clip._pixels(images)
    assert clip._preprocessors is not None  # the thread pool was used
    assert torch.equal(threaded, clip.processor(images=images, return_tensors="pt")["pixel_values"])
