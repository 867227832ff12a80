"""The tiny checkpoints load from their directories with the ordinary classes and run end to end."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.support import tiny_models as tm


@pytest.fixture
def image() -> Image.Image:
    rng = np.random.RandomState(0)
    return Image.fromarray(rng.randint(0, 256, (48, 64, 3), dtype=np.uint8))


@pytest.fixture
def photo() -> Image.Image:
    """A larger photo-like image: processors must shrink it to the tiny sizes."""
    rng = np.random.RandomState(1)
    return Image.fromarray(rng.randint(0, 256, (480, 640, 3), dtype=np.uint8))


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


# --------------------------------------------------------------------------------------------


def test_blip_caption(tmp_path, image):
    from transformers import AutoProcessor, BlipForConditionalGeneration, BlipProcessor

    path = tm.build_blip_caption(tmp_path / "blip")
    assert _tree_size(path) < 2_000_000
    processor = BlipProcessor.from_pretrained(str(path))
    assert isinstance(AutoProcessor.from_pretrained(str(path)), BlipProcessor)
    model = BlipForConditionalGeneration.from_pretrained(str(path)).eval()

    vocab = (path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == len(set(vocab)) == model.config.text_config.vocab_size
    tok = processor.tokenizer
    assert tok.bos_token == "[DEC]" and model.config.text_config.bos_token_id == tok.bos_token_id
    assert model.config.text_config.sep_token_id == tok.sep_token_id
    assert tok.convert_tokens_to_ids("[ENC]") != tok.unk_token_id

    inputs = processor(images=image, text="a photo of", return_tensors="pt")
    assert inputs["pixel_values"].shape == (1, 3, tm.BLIP_IMAGE_SIZE, tm.BLIP_IMAGE_SIZE)
    out = model.generate(**inputs, max_new_tokens=8)
    assert out.shape[0] == 1 and 1 < out.shape[1] <= inputs["input_ids"].shape[1] - 1 + 8
    assert out[0, 0].item() == tok.bos_token_id  # the prompt's [CLS] is replaced by [DEC]
    caption = processor.decode(out[0], skip_special_tokens=True)
    assert isinstance(caption, str) and caption.startswith("a photo of")
    assert torch.equal(out, model.generate(**inputs, max_new_tokens=8))  # greedy: deterministic

    out = model.generate(**processor(images=image, return_tensors="pt"), max_new_tokens=8)
    assert 1 < out.shape[1] <= 1 + 8
    assert isinstance(processor.batch_decode(out, skip_special_tokens=True)[0], str)


def test_clip(tmp_path, image, photo):
    from transformers import AutoModel, AutoProcessor, CLIPModel, CLIPProcessor

    path = tm.build_clip(tmp_path / "clip")
    assert _tree_size(path) < 2_000_000
    processor = CLIPProcessor.from_pretrained(str(path))
    assert isinstance(AutoProcessor.from_pretrained(str(path)), CLIPProcessor)
    model = CLIPModel.from_pretrained(str(path)).eval()
    assert isinstance(AutoModel.from_pretrained(str(path)), CLIPModel)
    assert model.config.text_config.eos_token_id == processor.tokenizer.eos_token_id
    dim = model.config.projection_dim

    with torch.no_grad():
        pixels = processor(images=[image, photo], return_tensors="pt")["pixel_values"]
        assert pixels.shape == (2, 3, tm.CLIP_IMAGE_SIZE, tm.CLIP_IMAGE_SIZE)
        img = model.get_image_features(pixel_values=pixels).pooler_output
        texts = processor(text=["a photo of a cat", "a dog on the beach!"], padding=True, return_tensors="pt")
        txt = model.get_text_features(**texts).pooler_output
        again = model.get_image_features(pixel_values=pixels).pooler_output
    assert img.shape == (2, dim) and txt.shape == (2, dim)
    assert torch.equal(img, again)
    img = torch.nn.functional.normalize(img, dim=-1)
    txt = torch.nn.functional.normalize(txt, dim=-1)
    assert torch.allclose(img.norm(dim=-1), torch.ones(2))
    sims = img @ txt.T
    assert sims.shape == (2, 2) and bool((sims.abs() <= 1 + 1e-5).all())
    assert not torch.allclose(img[0], img[1])  # different images, different embeddings


def test_chinese_clip(tmp_path, image):
    from transformers import ChineseCLIPModel, ChineseCLIPProcessor

    path = tm.build_chinese_clip(tmp_path / "cnclip")
    processor = ChineseCLIPProcessor.from_pretrained(str(path))
    model = ChineseCLIPModel.from_pretrained(str(path)).eval()
    tokens = processor.tokenizer.tokenize("一只猫的照片，海边的狗")
    assert "[UNK]" not in tokens and "猫" in tokens and "狗" in tokens
    with torch.no_grad():
        img = model.get_image_features(**processor(images=image, return_tensors="pt")).pooler_output
        inputs = processor(text=["一只猫的照片", "海边的狗"], padding=True, return_tensors="pt")
        txt = model.get_text_features(**inputs).pooler_output
    assert img.shape == (1, model.config.projection_dim) and txt.shape == (2, model.config.projection_dim)
    assert torch.allclose(torch.nn.functional.normalize(txt, dim=-1).norm(dim=-1), torch.ones(2))


def test_vit(tmp_path, photo):
    from transformers import AutoImageProcessor, AutoModelForImageClassification, pipeline

    path = tm.build_vit(tmp_path / "vit")
    processor = AutoImageProcessor.from_pretrained(str(path))
    model = AutoModelForImageClassification.from_pretrained(str(path)).eval()
    assert [model.config.id2label[i] for i in range(len(tm.VIT_LABELS))] == list(tm.VIT_LABELS)
    with torch.no_grad():
        logits = model(**processor(images=photo, return_tensors="pt")).logits
    assert logits.shape == (1, len(tm.VIT_LABELS))
    assert model.config.id2label[int(logits.argmax(-1))] in tm.VIT_LABELS

    classifier = pipeline("image-classification", model=str(path))
    preds = classifier(photo, top_k=3)
    assert len(preds) == 3 and all(p["label"] in tm.VIT_LABELS for p in preds)


def test_blip2(tmp_path, image):
    from transformers import AutoModelForImageTextToText, Blip2ForConditionalGeneration, Blip2Processor

    path = tm.build_blip2(tmp_path / "blip2")
    processor = Blip2Processor.from_pretrained(str(path))
    model = AutoModelForImageTextToText.from_pretrained(str(path)).eval()
    assert isinstance(model, Blip2ForConditionalGeneration)
    assert processor.num_query_tokens == model.config.num_query_tokens == tm.BLIP2_NUM_QUERY_TOKENS
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    assert model.config.image_token_index == image_id

    inputs = processor(images=image, text="Question: what is this? Answer:", return_tensors="pt")
    n_in = inputs["input_ids"].shape[1]
    assert int((inputs["input_ids"] == image_id).sum()) == tm.BLIP2_NUM_QUERY_TOKENS
    out = model.generate(**inputs, max_new_tokens=5)
    assert n_in < out.shape[1] <= n_in + 5
    answer = processor.batch_decode(out[:, n_in:], skip_special_tokens=True)[0]
    assert isinstance(answer, str)
    assert processor.batch_decode(out, skip_special_tokens=True)[0].startswith("Question: what is this? Answer:")


def test_instructblip(tmp_path, image):
    from transformers import InstructBlipForConditionalGeneration, InstructBlipProcessor

    path = tm.build_instructblip(tmp_path / "iblip")
    processor = InstructBlipProcessor.from_pretrained(str(path))
    model = InstructBlipForConditionalGeneration.from_pretrained(str(path)).eval()
    assert processor.qformer_tokenizer.__class__.__name__ == "BertTokenizer"

    inputs = processor(images=image, text="What is in the picture?", return_tensors="pt")
    assert {"qformer_input_ids", "qformer_attention_mask", "input_ids", "pixel_values"} <= set(inputs)
    n_in = inputs["input_ids"].shape[1]
    out = model.generate(**inputs, max_new_tokens=5)
    assert n_in < out.shape[1] <= n_in + 5
    assert isinstance(processor.batch_decode(out[:, n_in:], skip_special_tokens=True)[0], str)


def test_vilt(tmp_path, image, photo):
    from transformers import ViltForQuestionAnswering, ViltProcessor

    path = tm.build_vilt(tmp_path / "vilt")
    processor = ViltProcessor.from_pretrained(str(path))
    model = ViltForQuestionAnswering.from_pretrained(str(path)).eval()
    for img in (image, photo):
        inputs = processor(images=img, text="what color is the car?", return_tensors="pt")
        assert inputs["pixel_values"].shape[-2] % 32 == 0 and inputs["pixel_values"].shape[-1] % 32 == 0
        with torch.no_grad():
            logits = model(**inputs).logits
        assert logits.shape == (1, len(tm.VILT_ANSWERS))
        assert model.config.id2label[int(logits.argmax(-1))] in tm.VILT_ANSWERS


def _run_chat_vlm(path: Path, image: Image.Image, image_token: str) -> None:
    from transformers import AutoModelForImageTextToText

    processor = tm.load_qwen_image_processor(path)
    assert not hasattr(processor, "video_processor")
    model = AutoModelForImageTextToText.from_pretrained(str(path)).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in this photo?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text.count(image_token) == 1
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    grid = inputs["image_grid_thw"]
    assert grid.shape == (1, 3)
    merge = processor.image_processor.merge_size
    image_token_id = processor.tokenizer.convert_tokens_to_ids(image_token)
    assert int((inputs["input_ids"] == image_token_id).sum()) == int(grid.prod()) // merge**2
    assert inputs["pixel_values"].shape[0] == int(grid.prod())
    n_in = inputs["input_ids"].shape[1]
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert n_in < out.shape[1] <= n_in + 5
    answer = processor.batch_decode(out[:, n_in:], skip_special_tokens=True)
    assert isinstance(answer[0], str)
    assert torch.equal(out, model.generate(**inputs, max_new_tokens=5, do_sample=False))


def test_qwen2_5_vl(tmp_path, image, photo):
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    path = tm.build_qwen2_5_vl(tmp_path / "qwen25")
    processor = tm.load_qwen_image_processor(path)
    assert isinstance(processor, Qwen2_5_VLProcessor)
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>hi<|im_end|>\n<|im_start|>assistant\n"
    )
    for img in (image, photo):
        _run_chat_vlm(path, img, "<|image_pad|>")
    grid = processor(text=[text], images=[photo], return_tensors="pt")["image_grid_thw"][0]
    assert int(grid.prod()) <= (112 // 14) ** 2  # max_pixels keeps photos at a few patches
    from transformers import AutoModelForImageTextToText

    assert isinstance(AutoModelForImageTextToText.from_pretrained(str(path)), Qwen2_5_VLForConditionalGeneration)


def test_qwen3_vl(tmp_path, image, photo):
    from transformers import AutoModelForImageTextToText, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    path = tm.build_qwen3_vl(tmp_path / "qwen3")
    assert isinstance(tm.load_qwen_image_processor(path), Qwen3VLProcessor)
    assert isinstance(AutoModelForImageTextToText.from_pretrained(str(path)), Qwen3VLForConditionalGeneration)
    for img in (image, photo):
        _run_chat_vlm(path, img, "<|image_pad|>")


def test_glm4v(tmp_path, image, photo):
    from transformers import AutoModelForImageTextToText, Glm4vForConditionalGeneration, Glm4vProcessor

    path = tm.build_glm4v(tmp_path / "glm4v")
    processor = tm.load_qwen_image_processor(path)
    assert isinstance(processor, Glm4vProcessor)
    assert isinstance(AutoModelForImageTextToText.from_pretrained(str(path)), Glm4vForConditionalGeneration)
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert text == "[gMASK]<sop><|user|>\n<|begin_of_image|><|image|><|end_of_image|>hi<|assistant|>\n"
    for img in (image, photo):
        _run_chat_vlm(path, img, "<|image|>")


def test_sdxl(tmp_path):
    from diffusers import AutoPipelineForText2Image, EulerAncestralDiscreteScheduler, StableDiffusionXLPipeline

    path = tm.build_sdxl(tmp_path / "sdxl")
    assert _tree_size(path) < 10_000_000
    pipe = StableDiffusionXLPipeline.from_pretrained(str(path))
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.scheduler, EulerAncestralDiscreteScheduler)
    assert pipe.scheduler.config.timestep_spacing == "trailing"
    assert pipe.vae_scale_factor == 8
    unet = pipe.unet.config
    assert unet.cross_attention_dim == pipe.text_encoder.config.hidden_size + pipe.text_encoder_2.config.hidden_size
    assert unet.projection_class_embeddings_input_dim == (
        6 * unet.addition_time_embed_dim + pipe.text_encoder_2.config.projection_dim
    )

    def run(seed: int, prompt: str = "a cat on the beach") -> np.ndarray:
        result = pipe(
            prompt,
            num_inference_steps=1,
            guidance_scale=0.0,
            height=256,
            width=256,
            generator=torch.Generator("cpu").manual_seed(seed),
        )
        (img,) = result.images
        assert isinstance(img, Image.Image) and img.size == (256, 256)
        return np.asarray(img)

    first = run(7)
    assert np.array_equal(first, run(7))
    assert not np.array_equal(first, run(8))

    auto = AutoPipelineForText2Image.from_pretrained(str(path))
    assert isinstance(auto, StableDiffusionXLPipeline)


def test_sd_safety_checker(tmp_path, image, photo):
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPImageProcessor

    path = tm.build_sd_safety_checker(tmp_path / "safety")
    checker = StableDiffusionSafetyChecker.from_pretrained(str(path)).eval()
    feature_extractor = CLIPImageProcessor.from_pretrained(str(path))
    images = np.stack([np.asarray(image.resize((64, 64))), np.asarray(photo.resize((64, 64)))]) / 255.0
    clip_input = feature_extractor(images=[image, photo], return_tensors="pt").pixel_values
    checked, has_nsfw = checker(clip_input=clip_input, images=images.copy())
    assert has_nsfw == [False, False]
    assert np.array_equal(checked, images)

    # Lowering the thresholds flags everything: the real filtering path runs.
    checker.concept_embeds_weights.data.fill_(-2.0)
    checked, has_nsfw = checker(clip_input=clip_input, images=images.copy())
    assert has_nsfw == [True, True] and not checked.any()


def test_builders_are_deterministic_and_small(tmp_path):
    first = tm.build_all(tmp_path / "a")
    assert set(first) == set(tm.BUILDERS)
    for name, path in first.items():
        assert path == tmp_path / "a" / name and path.is_dir()
        assert _tree_size(path) < (10_000_000 if name == "sdxl" else 2_000_000), name
    for name in ("clip", "qwen2_5_vl", "sdxl"):
        again = tm.BUILDERS[name](tmp_path / "b" / name)
        assert _tree_digest(again) == _tree_digest(first[name]), name
