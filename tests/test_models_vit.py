"""The ViT classifier on the tiny checkpoint: top-5 labels with softmax probabilities, one forward pass per batch."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from bot.settings import Settings
from contract.errors import Interrupted
from contract.requests import Classification, ClassifyRequest, Task
from contract.worker import Interrupt
from models.pool import ModelPool
from models.registry import adapter_for
from models.vit import VitClassifier
from tests.support.tiny_models import VIT_LABELS


@pytest.fixture(scope="module")
def pool(tiny_vit) -> ModelPool:
    return ModelPool(Settings(telegram_bot_token="t", classify_model=str(tiny_vit), device="cpu"))


def test_registry_picks_vit(tiny_vit):
    assert adapter_for(Task.CLASSIFY, str(tiny_vit)) is VitClassifier


def test_top_five_labels_with_probabilities_from_one_forward_pass(pool):
    model = pool.get(Task.CLASSIFY).model
    calls: list[int] = []
    model.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(len(kwargs["pixel_values"])), with_kwargs=True
    )
    shapes = (((64, 48), "red"), ((20, 90), "blue"), ((33, 33), "white"))
    images = [Image.new("RGB", size, colour) for size, colour in shapes]
    results = pool.run(Task.CLASSIFY, [ClassifyRequest(i) for i in images], Interrupt())
    assert calls == [3]
    alone = pool.run(Task.CLASSIFY, [ClassifyRequest(images[1])], Interrupt())[0]
    for result in results:
        assert isinstance(result, Classification) and len(result.labels) == 5
        labels, probabilities = zip(*result.labels, strict=False)
        assert set(labels) <= set(VIT_LABELS) and len(set(labels)) == 5
        assert list(probabilities) == sorted(probabilities, reverse=True)
        assert all(0 < p < 1 for p in probabilities) and sum(probabilities) <= 1
    assert [label for label, _ in alone.labels] == [label for label, _ in results[1].labels]
    assert torch.allclose(torch.tensor([p for _, p in alone.labels]), torch.tensor([p for _, p in results[1].labels]))
    # the probabilities are the softmax over all ten labels: the top five and the other five make 1
    with torch.inference_mode():
        pixels = pool.get(Task.CLASSIFY).processor(images=[images[1]], return_tensors="pt").pixel_values
        full = model(pixel_values=pixels).logits.softmax(-1)[0]
    assert abs(float(full.sum()) - 1) < 1e-5
    assert abs(sum(p for _, p in alone.labels) - float(full.topk(5).values.sum())) < 1e-6


def test_an_interrupted_batch_does_not_run(pool):
    interrupt = Interrupt()
    interrupt.set()
    with pytest.raises(Interrupted):
        pool.run(Task.CLASSIFY, [ClassifyRequest(Image.new("RGB", (8, 8)))], interrupt)
