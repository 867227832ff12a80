"""/ask about an album at the model level: multi-image families see every photo in one prompt, sharing the pixel
budget; single-image families answer about the first photo and say so (Answer.images_used)."""

from __future__ import annotations

import pytest
from PIL import Image

from contract.requests import AskRequest, Task, Turn
from contract.worker import Interrupt
from models.pool import ModelPool
from tests.test_models_vlm import settings_for

ALBUM = tuple(Image.new("RGB", (300 + 100 * i,) * 2, (60 * i, 90, 200 - 40 * i)) for i in range(3))


def seen_by_processor(adapter, monkeypatch) -> list[dict]:
    """What each processor call got: how many images, and the pixels of each as the model sees them."""
    calls: list[dict] = []
    processor = adapter.processor
    original = type(processor).__call__

    def spy(self, *args, **kwargs):
        inputs = original(self, *args, **kwargs)
        patch = self.image_processor.patch_size
        grids = [tuple(int(v) for v in row) for row in inputs["image_grid_thw"]]
        pixels = [h * w * patch * patch for _, h, w in grids]
        calls.append({"images": len(kwargs.get("images") or []), "pixels": pixels})
        return inputs

    monkeypatch.setattr(type(processor), "__call__", spy)
    return calls


@pytest.mark.parametrize("family", ["tiny_qwen2_5_vl", "tiny_qwen3_vl", "tiny_glm4v"])
def test_multi_image_families_see_every_photo_within_one_shared_budget(family, request, monkeypatch):
    pool = ModelPool(settings_for(request.getfixturevalue(family), vlm_max_new_tokens=2))
    adapter = pool.get(Task.ASK)
    budget = adapter.image_pixels  # one photo's pixels: the tiny processors' limit (under VLM_IMAGE_PIXELS)
    calls = seen_by_processor(adapter, monkeypatch)
    album = AskRequest(ALBUM[0], "which is sharpest?", more_images=ALBUM[1:])
    single = AskRequest(ALBUM[0], "and this one?")
    answers = pool.run(Task.ASK, [album], Interrupt())
    assert answers[0].images_used == 3 and answers[0].history_used == 0
    assert calls[-1]["images"] == 3 and len(calls[-1]["pixels"]) == 3
    assert sum(calls[-1]["pixels"]) <= budget  # three photos cost what one may
    pool.run(Task.ASK, [single], Interrupt())
    assert calls[-1]["images"] == 1 and calls[-1]["pixels"][0] > budget // 3  # one photo gets the whole budget
    # an album's follow-up batched with another chat's single photo: 3 + 1 images in one generate()
    follow_up = AskRequest(ALBUM[0], "why?", (Turn("which is sharpest?", "the second"),), more_images=ALBUM[1:])
    both = pool.run(Task.ASK, [follow_up, single], Interrupt())
    assert [a.images_used for a in both] == [3, 1] and both[0].history_used == 1
    assert calls[-1]["images"] == 4


@pytest.mark.parametrize("family", ["tiny_blip2", "tiny_vilt"])
def test_single_image_families_answer_about_the_first_photo_and_say_so(family, request):
    pool = ModelPool(settings_for(request.getfixturevalue(family), vlm_max_new_tokens=2))
    (answer,) = pool.run(Task.ASK, [AskRequest(ALBUM[0], "which is sharpest?", more_images=ALBUM[1:])], Interrupt())
    assert answer.images_used == 1
