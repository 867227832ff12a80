"""Tiny random-weight checkpoints for tests, built offline from config classes.

Every ``build_<family>(target_dir)`` writes a complete checkpoint directory (weights, config,
generation config, tokenizer / image processor / processor files) with ``save_pretrained`` so
that the ordinary ``from_pretrained(str(target_dir))`` calls used for real checkpoints load it.
Nothing is downloaded. Builders seed torch first, so the same call writes the same bytes.

Random weights generate garbage text: tests should assert shapes, types, determinism and that the
real code path ran, never what the model "says".

Families and the classes that load them:

* ``build_blip_caption``  BlipForConditionalGeneration + BlipProcessor
* ``build_clip``          CLIPModel + CLIPProcessor
* ``build_chinese_clip``  ChineseCLIPModel + ChineseCLIPProcessor
* ``build_vit``           ViTForImageClassification + ViTImageProcessor (AutoImageProcessor)
* ``build_blip2``         Blip2ForConditionalGeneration (OPT LM) + Blip2Processor
* ``build_instructblip``  InstructBlipForConditionalGeneration (OPT LM) + InstructBlipProcessor
* ``build_vilt``          ViltForQuestionAnswering + ViltProcessor
* ``build_qwen2_vl``      Qwen2VLForConditionalGeneration (AutoModelForImageTextToText)
* ``build_qwen2_5_vl``    Qwen2_5_VLForConditionalGeneration (AutoModelForImageTextToText)
* ``build_qwen3_vl``      Qwen3VLForConditionalGeneration (AutoModelForImageTextToText)
* ``build_glm4v``         Glm4vForConditionalGeneration (AutoModelForImageTextToText)
* ``build_glm4v_moe``     Glm4vMoeForConditionalGeneration (AutoModelForImageTextToText)
* ``build_sdxl``          StableDiffusionXLPipeline / AutoPipelineForText2Image
* ``build_sd_safety_checker`` StableDiffusionSafetyChecker + CLIPImageProcessor

The Qwen-VL and GLM-4V processors require a video processor, which requires torchvision (not
installed here): load them with :func:`load_qwen_image_processor`, which builds an image-only
processor (image processor + tokenizer + chat template).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

SEED = 0

# A small English word list for the WordPiece vocabularies (BLIP, ViLT, the Q-Formers).
_WORDS = [
    "a",
    "an",
    "the",
    "of",
    "on",
    "in",
    "at",
    "to",
    "is",
    "are",
    "and",
    "with",
    "what",
    "this",
    "that",
    "it",
    "there",
    "photo",
    "picture",
    "image",
    "cat",
    "cats",
    "dog",
    "dogs",
    "man",
    "woman",
    "person",
    "people",
    "car",
    "red",
    "blue",
    "green",
    "white",
    "black",
    "yellow",
    "sitting",
    "standing",
    "table",
    "street",
    "beach",
    "sea",
    "sky",
    "tree",
    "grass",
    "water",
    "two",
    "one",
    "three",
    "how",
    "many",
    "question",
    "answer",
    "yes",
    "no",
    "color",
    "colour",
    "kind",
]

# Labels for the classifiers (ViT) and answers for the VQA head (ViLT).
VIT_LABELS = (
    "tabby cat",
    "golden retriever",
    "sports car",
    "seashore",
    "pizza",
    "mountain bike",
    "daisy",
    "laptop",
    "teddy bear",
    "volcano",
)
VILT_ANSWERS = ("yes", "no", "2", "1", "3", "cat", "dog", "red", "blue", "beach")

# Qwen-VL special tokens, in the order the real Qwen2.5-VL vocabulary has them (ids 151643...).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<tool_call>",
    "</tool_call>",
)
QWEN3_EXTRA_TOKENS = ("<think>", "</think>")

GLM4V_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
    "<think>",
    "</think>",
)

# The chat template shipped with Qwen/Qwen2-VL-*-Instruct and Qwen/Qwen2.5-VL-*-Instruct
# (chat_template.json), verbatim.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Modelled on zai-org/GLM-4.1V-9B-Thinking's template (system/user/assistant turns, the
# [gMASK]<sop> prefix and the image/video wrappers), without the thinking/metadata extras.
GLM4V_CHAT_TEMPLATE = (
    "[gMASK]<sop>"
    "{%- for msg in messages %}"
    "{%- if msg.role == 'system' %}{{- '<|system|>\\n' }}"
    "{%- if msg.content is string %}{{- msg.content }}"
    "{%- else %}{%- for item in msg.content %}{%- if item.type == 'text' %}{{- item.text }}{%- endif %}"
    "{%- endfor %}{%- endif %}"
    "{%- elif msg.role == 'user' %}{{- '<|user|>\\n' }}"
    "{%- if msg.content is string %}{{- msg.content }}"
    "{%- else %}{%- for item in msg.content %}"
    "{%- if item.type == 'video' or 'video' in item %}{{- '<|begin_of_video|><|video|><|end_of_video|>' }}"
    "{%- elif item.type == 'image' or 'image' in item %}{{- '<|begin_of_image|><|image|><|end_of_image|>' }}"
    "{%- elif item.type == 'text' %}{{- item.text }}"
    "{%- endif %}{%- endfor %}{%- endif %}"
    "{%- elif msg.role == 'assistant' %}{{- '<|assistant|>\\n' }}{{- msg.content }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}"
)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _seed() -> None:
    torch.manual_seed(SEED)


def _prepare(target_dir: Path) -> Path:
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    return target_dir


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable unicode character table (used by every byte-level BPE)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=False))


def _byte_vocab(end_of_word: bool = False) -> dict[str, int]:
    """Vocabulary of the 256 byte characters (plus their ``</w>`` variants for CLIP).

    With an empty merges list a byte-level BPE over this vocabulary tokenizes any text
    (one token per byte), so no training and no files are needed.
    """
    chars = list(_bytes_to_unicode().values())
    tokens = chars + ([c + "</w>" for c in chars] if end_of_word else [])
    return {tok: i for i, tok in enumerate(tokens)}


def _wordpiece_vocab(extra: tuple[str, ...] = (), specials: tuple[str, ...] = ()) -> dict[str, int]:
    """A BERT WordPiece vocabulary (what a vocab.txt holds, one token a line, no duplicates).

    Single letters/digits and their ``##`` continuations make every ASCII word tokenizable
    without ``[UNK]``.
    """
    tokens: list[str] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *specials]
    tokens += list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    tokens += list("0123456789abcdefghijklmnopqrstuvwxyz")
    tokens += ["##" + c for c in "0123456789abcdefghijklmnopqrstuvwxyz"]
    tokens += list(_WORDS) + list(extra)
    vocab: dict[str, int] = {}
    for tok in tokens:
        if tok not in vocab:  # WordPiece files must not repeat lines
            vocab[tok] = len(vocab)
    return vocab


def _write_vocab_txt(vocab: dict[str, int], target_dir: Path) -> None:
    """Also keep the plain vocab.txt next to tokenizer.json, as real BERT-style checkpoints do."""
    lines = [tok for tok, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    (target_dir / "vocab.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _image_processor(name: str, **kwargs):
    """Instantiate an image processor by its class name, preferring the PIL backend.

    Without torchvision, transformers falls back from ``XImageProcessor`` to
    ``XImageProcessorPil`` with a warning; asking for the PIL class directly is silent. The saved
    ``image_processor_type`` is the plain name either way, as in real checkpoints.
    """
    import transformers

    cls = getattr(transformers, name + "Pil", None) or getattr(transformers, name)
    return cls(**kwargs)


def _bert_tokenizer(vocab: dict[str, int], **kwargs):
    from transformers import BertTokenizer

    return BertTokenizer(vocab=dict(vocab), **kwargs)


def _clip_tokenizer():
    from transformers import CLIPTokenizer

    vocab = _byte_vocab(end_of_word=True)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _opt_tokenizer():
    """OPT-style byte-level BPE: <s>=0 <pad>=1 </s>=2 <unk>=3, prepends </s> as BOS like OPT."""
    from transformers import GPT2Tokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for tok in _byte_vocab():
        vocab[tok] = len(vocab)
    return GPT2Tokenizer(
        vocab=vocab,
        merges=[],
        bos_token="</s>",
        eos_token="</s>",
        unk_token="</s>",
        pad_token="<pad>",
        add_bos_token=True,
        model_max_length=512,
    )


def _special_byte_bpe_tokenizer(tokenizer_cls, specials: tuple[str, ...], **kwargs):
    """Byte-level BPE (empty merges) with special tokens appended after the 256 bytes."""
    vocab = _byte_vocab()
    for tok in specials:
        vocab[tok] = len(vocab)
    tok = tokenizer_cls(vocab=vocab, merges=[], **kwargs)
    from tokenizers import AddedToken

    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials], special_tokens=True)
    return tok


def _save_generation_config(model, target_dir: Path, **overrides) -> None:
    from transformers import GenerationConfig

    gen = GenerationConfig.from_model_config(model.config)
    for key, value in overrides.items():
        setattr(gen, key, value)
    gen.save_pretrained(target_dir)


def _tiny_clip_text(vocab_size: int, bos: int, eos: int, pad: int, **kw) -> dict:
    cfg = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=16,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    cfg.update(kw)
    return cfg


def _tiny_clip_vision(image_size: int = 32, patch_size: int = 8, **kw) -> dict:
    cfg = dict(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        projection_dim=16,
    )
    cfg.update(kw)
    return cfg


# --------------------------------------------------------------------------------------------
# 1. BLIP captioning
# --------------------------------------------------------------------------------------------

BLIP_IMAGE_SIZE = 32


def build_blip_caption(target_dir: Path) -> Path:
    """BlipForConditionalGeneration + BlipProcessor (BERT WordPiece tokenizer, 32px images).

    The tokenizer mirrors Salesforce/blip-image-captioning-*: bos_token ``[DEC]`` (the decoder
    start token, text_config.bos_token_id), sep ``[SEP]`` (generation stops there:
    text_config.sep_token_id), pad ``[PAD]`` = 0, plus the extra special token ``[ENC]``.
    """
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor

    target_dir = _prepare(target_dir)
    _seed()
    vocab = _wordpiece_vocab(specials=("[DEC]", "[ENC]"))
    tokenizer = _bert_tokenizer(vocab, bos_token="[DEC]", extra_special_tokens=["[ENC]"], model_max_length=64)
    image_processor = _image_processor("BlipImageProcessor", size={"height": BLIP_IMAGE_SIZE, "width": BLIP_IMAGE_SIZE})
    processor = BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)

    config = BlipConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            encoder_hidden_size=32,
            intermediate_size=37,
            projection_dim=16,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=64,
            bos_token_id=vocab["[DEC]"],
            eos_token_id=vocab["[SEP]"],
            sep_token_id=vocab["[SEP]"],
            pad_token_id=vocab["[PAD]"],
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=37,
            projection_dim=16,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=BLIP_IMAGE_SIZE,
            patch_size=8,
        ),
        projection_dim=16,
        image_text_hidden_size=16,
    )
    model = BlipForConditionalGeneration(config).eval()
    model.save_pretrained(target_dir)
    _save_generation_config(
        model,
        target_dir,
        bos_token_id=vocab["[DEC]"],
        eos_token_id=vocab["[SEP]"],
        pad_token_id=vocab["[PAD]"],
        max_length=20,
    )
    processor.save_pretrained(target_dir)
    _write_vocab_txt(vocab, target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# 2. CLIP
# --------------------------------------------------------------------------------------------

CLIP_IMAGE_SIZE = 32


def build_clip(target_dir: Path) -> Path:
    """CLIPModel + CLIPProcessor (byte-level BPE with empty merges, 32px images, 16-d embeddings)."""
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    target_dir = _prepare(target_dir)
    _seed()
    tokenizer = _clip_tokenizer()
    image_processor = _image_processor(
        "CLIPImageProcessor",
        size={"shortest_edge": CLIP_IMAGE_SIZE},
        crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE},
    )
    processor = CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = CLIPConfig(
        text_config=_tiny_clip_text(
            len(tokenizer),
            bos=tokenizer.bos_token_id,
            eos=tokenizer.eos_token_id,  # must be the real eos id: CLIP pools at the first eos
            pad=tokenizer.pad_token_id,
        ),
        vision_config=_tiny_clip_vision(CLIP_IMAGE_SIZE),
        projection_dim=16,
    )
    model = CLIPModel(config).eval()
    model.save_pretrained(target_dir)
    processor.save_pretrained(target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# 3. Chinese-CLIP
# --------------------------------------------------------------------------------------------

CHINESE_CLIP_CHARS = (
    "猫",
    "狗",
    "海",
    "边",
    "的",
    "照",
    "片",
    "一",
    "只",
    "张",
    "在",
    "上",
    "人",
    "车",
    "花",
    "，",
    "。",
    "？",
)


def build_chinese_clip(target_dir: Path) -> Path:
    """ChineseCLIPModel + ChineseCLIPProcessor (WordPiece vocab with a few Chinese characters)."""
    from transformers import ChineseCLIPConfig, ChineseCLIPModel, ChineseCLIPProcessor

    target_dir = _prepare(target_dir)
    _seed()
    vocab = _wordpiece_vocab(extra=CHINESE_CLIP_CHARS)
    tokenizer = _bert_tokenizer(vocab, model_max_length=52)
    image_processor = _image_processor(
        "ChineseCLIPImageProcessor",
        size={"shortest_edge": CLIP_IMAGE_SIZE},
        crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE},
    )
    processor = ChineseCLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = ChineseCLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=64,
            pad_token_id=vocab["[PAD]"],
        ),
        vision_config=_tiny_clip_vision(CLIP_IMAGE_SIZE),
        projection_dim=16,
    )
    model = ChineseCLIPModel(config).eval()
    model.save_pretrained(target_dir)
    processor.save_pretrained(target_dir)
    _write_vocab_txt(vocab, target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# 4. ViT image classification
# --------------------------------------------------------------------------------------------


def build_vit(target_dir: Path) -> Path:
    """ViTForImageClassification with ``VIT_LABELS`` in id2label + ViTImageProcessor (32px)."""
    from transformers import ViTConfig, ViTForImageClassification

    target_dir = _prepare(target_dir)
    _seed()
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        id2label={i: label for i, label in enumerate(VIT_LABELS)},
        label2id={label: i for i, label in enumerate(VIT_LABELS)},
    )
    model = ViTForImageClassification(config).eval()
    model.save_pretrained(target_dir)
    _image_processor("ViTImageProcessor", size={"height": 32, "width": 32}).save_pretrained(target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# 5. BLIP-2 (OPT language model)
# --------------------------------------------------------------------------------------------

BLIP2_NUM_QUERY_TOKENS = 4


def _tiny_opt_config(vocab_size: int) -> dict:
    return dict(
        model_type="opt",
        vocab_size=vocab_size,
        hidden_size=32,
        ffn_dim=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
        word_embed_proj_dim=32,
        bos_token_id=2,
        eos_token_id=2,
        pad_token_id=1,
    )


def _tiny_qformer_config(vocab_size: int, **kw) -> dict:
    cfg = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        encoder_hidden_size=32,
        cross_attention_frequency=1,
        pad_token_id=0,
    )
    cfg.update(kw)
    return cfg


def _tiny_blip2_vision_config() -> dict:
    return dict(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )


def build_blip2(target_dir: Path) -> Path:
    """Blip2ForConditionalGeneration (tiny OPT LM) + Blip2Processor.

    transformers 5 expands the image into ``num_query_tokens`` ``<image>`` tokens in the
    processor and checks them against the Q-Former output: the processor's
    ``num_query_tokens`` equals the config's, and ``config.image_token_index`` is the id of the
    ``<image>`` token the tokenizer holds. Prompt form: ``"Question: <q> Answer:"``.
    """
    from tokenizers import AddedToken
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor

    target_dir = _prepare(target_dir)
    _seed()
    tokenizer = _opt_tokenizer()
    tokenizer.add_tokens([AddedToken("<image>", normalized=False, special=True)], special_tokens=True)
    tokenizer.image_token = "<image>"  # read by Blip2Processor instead of adding it again
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    image_processor = _image_processor("BlipImageProcessor", size={"height": 32, "width": 32})
    processor = Blip2Processor(
        image_processor=image_processor, tokenizer=tokenizer, num_query_tokens=BLIP2_NUM_QUERY_TOKENS
    )
    config = Blip2Config(
        vision_config=_tiny_blip2_vision_config(),
        qformer_config=_tiny_qformer_config(64),
        text_config=_tiny_opt_config(len(tokenizer)),
        num_query_tokens=BLIP2_NUM_QUERY_TOKENS,
        image_text_hidden_size=16,
        image_token_index=image_token_id,
    )
    model = Blip2ForConditionalGeneration(config).eval()
    model.save_pretrained(target_dir)
    _save_generation_config(model, target_dir, bos_token_id=2, eos_token_id=2, pad_token_id=1)
    processor.save_pretrained(target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# 6. InstructBLIP (OPT language model, BERT Q-Former tokenizer)
# --------------------------------------------------------------------------------------------


def build_instructblip(target_dir: Path) -> Path:
    """InstructBlipForConditionalGeneration (tiny OPT LM) + InstructBlipProcessor.

    The Q-Former tokenizer is BERT WordPiece, saved in the ``qformer_tokenizer/`` subfolder
    (where InstructBlipProcessor.from_pretrained looks for it).
    """
    from tokenizers import AddedToken
    from transformers import (
        InstructBlipConfig,
        InstructBlipForConditionalGeneration,
        InstructBlipProcessor,
    )

    target_dir = _prepare(target_dir)
    _seed()
    tokenizer = _opt_tokenizer()
    tokenizer.add_tokens([AddedToken("<image>", normalized=False, special=True)], special_tokens=True)
    tokenizer.image_token = "<image>"
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    qvocab = _wordpiece_vocab()
    qformer_tokenizer = _bert_tokenizer(qvocab, model_max_length=64)
    image_processor = _image_processor("BlipImageProcessor", size={"height": 32, "width": 32})
    processor = InstructBlipProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        qformer_tokenizer=qformer_tokenizer,
        num_query_tokens=BLIP2_NUM_QUERY_TOKENS,
    )
    config = InstructBlipConfig(
        vision_config=_tiny_blip2_vision_config(),
        qformer_config=_tiny_qformer_config(len(qvocab), pad_token_id=qvocab["[PAD]"]),
        text_config=_tiny_opt_config(len(tokenizer)),
        num_query_tokens=BLIP2_NUM_QUERY_TOKENS,
        image_token_index=image_token_id,
    )
    model = InstructBlipForConditionalGeneration(config).eval()
    model.save_pretrained(target_dir)
    _save_generation_config(model, target_dir, bos_token_id=2, eos_token_id=2, pad_token_id=1)
    processor.save_pretrained(target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# 7. ViLT visual question answering
# --------------------------------------------------------------------------------------------


def build_vilt(target_dir: Path) -> Path:
    """ViltForQuestionAnswering with ``VILT_ANSWERS`` in id2label + ViltProcessor.

    Images are resized to a 64px shortest edge (multiples of 32); ViLT interpolates its
    position embeddings for other aspect ratios, as the real checkpoint does.
    """
    from transformers import ViltConfig, ViltForQuestionAnswering, ViltProcessor

    target_dir = _prepare(target_dir)
    _seed()
    vocab = _wordpiece_vocab()
    tokenizer = _bert_tokenizer(vocab, model_max_length=40)
    image_processor = _image_processor("ViltImageProcessor", size={"shortest_edge": 64}, size_divisor=32)
    processor = ViltProcessor(image_processor=image_processor, tokenizer=tokenizer)
    config = ViltConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=40,
        image_size=64,
        patch_size=16,
        num_labels=len(VILT_ANSWERS),
        id2label={i: a for i, a in enumerate(VILT_ANSWERS)},
        label2id={a: i for i, a in enumerate(VILT_ANSWERS)},
        pad_token_id=vocab["[PAD]"],
    )
    model = ViltForQuestionAnswering(config).eval()
    model.save_pretrained(target_dir)
    processor.save_pretrained(target_dir)
    _write_vocab_txt(vocab, target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# Image-only processors for Qwen-VL / GLM-4V (their processors require a video processor,
# and every video processor requires torchvision)
# --------------------------------------------------------------------------------------------


def image_only_processor_class(base_cls: type) -> type:
    """The production recipe (models.processors): a processor subclass without a video processor."""
    from models.processors import image_only_processor_class as production_recipe

    return production_recipe(base_cls)


def load_qwen_image_processor(path):
    """Load the processor of a Qwen2-VL / Qwen2.5-VL / Qwen3-VL (or GLM-4.1V) checkpoint, images only.

    ``AutoProcessor.from_pretrained`` cannot be used without torchvision (see models.processors);
    this is the bot's own loader, so tests load processors exactly as the bot does.
    """
    from models.processors import load_image_only_processor

    return load_image_only_processor(str(path))


# --------------------------------------------------------------------------------------------
# 8. Qwen2.5-VL and Qwen3-VL
# --------------------------------------------------------------------------------------------


def _qwen_tokenizer(specials: tuple[str, ...]):
    from transformers import Qwen2Tokenizer

    # Like Qwen/Qwen2.5-VL-*-Instruct: eos <|im_end|>, pad <|endoftext|>, no bos/unk.
    return _special_byte_bpe_tokenizer(
        Qwen2Tokenizer,
        specials,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=4096,
    )


def _save_qwen_like(model, processor, tokenizer, target_dir: Path, eos_tokens: tuple[str, ...]) -> None:
    model.save_pretrained(target_dir)
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    _save_generation_config(
        model,
        target_dir,
        bos_token_id=pad,
        pad_token_id=pad,
        eos_token_id=[tokenizer.convert_tokens_to_ids(t) for t in eos_tokens],
        do_sample=False,
    )
    processor.save_pretrained(target_dir)


QWEN2_HIDDEN = 32  # the text model's hidden size, which the vision merger's output must equal


def build_qwen2_vl(target_dir: Path) -> Path:
    """Qwen2VLForConditionalGeneration + Qwen2VLProcessor files (no video processor).

    Same tokenizer, template and image sizes as :func:`build_qwen2_5_vl`; Qwen2-VL's grounding
    tokens (``<|object_ref_start|>``, ``<|box_start|>``...) are among its special tokens.
    """
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor

    vision = dict(embed_dim=32, hidden_size=QWEN2_HIDDEN, mlp_ratio=2)  # hidden_size: the merger's output
    return _build_qwen2_family(target_dir, Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLProcessor, vision)


def build_qwen2_5_vl(target_dir: Path) -> Path:
    """Qwen2_5_VLForConditionalGeneration + Qwen2_5_VLProcessor files (no video processor).

    Load the processor with :func:`load_qwen_image_processor`. Images are resized to multiples of
    28 between 56x56 and 112x112 pixels (4 to 16 image tokens).
    """
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    vision = dict(
        hidden_size=32, intermediate_size=64, window_size=56, fullatt_block_indexes=[1], out_hidden_size=QWEN2_HIDDEN
    )  # out_hidden_size: the merger's output
    return _build_qwen2_family(
        target_dir, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor, vision
    )


def _build_qwen2_family(target_dir: Path, config_class, model_class, processor_class, vision: dict) -> Path:
    """Qwen2-VL and Qwen2.5-VL: the same tokenizer, template, image sizes and text model; their vision
    towers differ (`vision`: their own fields, the merger's output size among them)."""
    target_dir = _prepare(target_dir)
    _seed()
    tokenizer = _qwen_tokenizer(QWEN_SPECIAL_TOKENS)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    image_processor = _image_processor(
        "Qwen2VLImageProcessor",
        size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )
    processor = image_only_processor_class(processor_class)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN2_5_VL_CHAT_TEMPLATE
    )
    config = config_class(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=QWEN2_HIDDEN,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,  # head_dim 8
            num_key_value_heads=2,
            max_position_embeddings=4096,
            max_window_layers=2,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 1, 1]},
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2,
            num_heads=2,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            **vision,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    model = model_class(config).eval()
    _save_qwen_like(model, processor, tokenizer, target_dir, ("<|im_end|>", "<|endoftext|>"))
    return target_dir


def build_qwen3_vl(target_dir: Path) -> Path:
    """Qwen3VLForConditionalGeneration + Qwen3VLProcessor files (no video processor).

    Uses the same chat template text as Qwen2.5-VL (same image placeholder tokens). Images are
    resized to multiples of 32 (patch 16, merge 2) between 64x64 and 128x128 pixels.
    """
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    target_dir = _prepare(target_dir)
    _seed()
    specials = QWEN_SPECIAL_TOKENS + QWEN3_EXTRA_TOKENS
    tokenizer = _qwen_tokenizer(specials)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in specials}
    image_processor = _image_processor(
        "Qwen2VLImageProcessor",
        size={"shortest_edge": 64 * 64, "longest_edge": 128 * 128},
        patch_size=16,
        temporal_patch_size=2,
        merge_size=2,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )
    processor = image_only_processor_class(Qwen3VLProcessor)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=QWEN2_5_VL_CHAT_TEMPLATE
    )
    hidden = 32
    config = Qwen3VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            max_position_embeddings=4096,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5000000.0,
                "mrope_section": [2, 1, 1],  # sums to head_dim / 2
                "mrope_interleaved": True,
            },
            bos_token_id=ids["<|endoftext|>"],
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            out_hidden_size=hidden,
            num_position_embeddings=64,  # an 8x8 grid, interpolated to the image's patch grid
            deepstack_visual_indexes=[0],
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    model = Qwen3VLForConditionalGeneration(config).eval()
    _save_qwen_like(model, processor, tokenizer, target_dir, ("<|im_end|>", "<|endoftext|>"))
    return target_dir


# --------------------------------------------------------------------------------------------
# 9. GLM-4.1V
# --------------------------------------------------------------------------------------------


def build_glm4v(target_dir: Path) -> Path:
    """Glm4vForConditionalGeneration (GLM-4.1V) + Glm4vProcessor files (no video processor).

    Load the processor with :func:`load_qwen_image_processor` (same image-only recipe). The
    tokenizer is a byte-level BPE with GLM's special tokens; the chat template follows
    GLM-4.1V's (``[gMASK]<sop><|user|>\\n<|begin_of_image|><|image|><|end_of_image|>...``).
    """
    return _build_glm(target_dir, moe=False)


def build_glm4v_moe(target_dir: Path) -> Path:
    """Glm4vMoeForConditionalGeneration (GLM-4.5V's architecture: a mixture-of-experts text model,
    4 routed experts, 2 per token) with the same processor files as :func:`build_glm4v`."""
    return _build_glm(target_dir, moe=True)


def _build_glm(target_dir: Path, moe: bool) -> Path:
    from transformers import (
        Glm4vConfig,
        Glm4vForConditionalGeneration,
        Glm4vMoeConfig,
        Glm4vMoeForConditionalGeneration,
        Glm4vProcessor,
    )

    target_dir = _prepare(target_dir)
    _seed()
    tokenizer = _special_byte_bpe_tokenizer(
        _glm_tokenizer_cls(),
        GLM4V_SPECIAL_TOKENS,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=4096,
    )
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in GLM4V_SPECIAL_TOKENS}
    image_processor = _image_processor(
        "Glm4vImageProcessor",
        # pixel budgets count the 2 temporal frames: 56x56 .. 112x112 images
        size={"shortest_edge": 2 * 56 * 56, "longest_edge": 2 * 112 * 112},
        patch_size=14,
        temporal_patch_size=2,
        merge_size=2,
    )
    processor = image_only_processor_class(Glm4vProcessor)(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=GLM4V_CHAT_TEMPLATE
    )
    hidden = 64
    text_config = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,  # head_dim 16, half of it rotary
        num_key_value_heads=2,
        max_position_embeddings=4096,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "partial_rotary_factor": 0.5,
            "mrope_section": [2, 1, 1],  # sums to head_dim * partial_rotary_factor / 2
        },
        pad_token_id=ids["<|endoftext|>"],
    )
    if moe:  # the first layer dense, the second routed over 4 small experts
        text_config.update(
            moe_intermediate_size=16,
            n_routed_experts=4,
            num_experts_per_tok=2,
            n_shared_experts=1,
            first_k_dense_replace=1,
            n_group=1,
            topk_group=1,
            head_dim=16,
        )
    config_cls, model_cls = (
        (Glm4vMoeConfig, Glm4vMoeForConditionalGeneration) if moe else (Glm4vConfig, Glm4vForConditionalGeneration)
    )
    config = config_cls(
        text_config=text_config,
        vision_config=dict(
            depth=2,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            image_size=56,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
            out_hidden_size=hidden,
        ),
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
    )
    model = model_cls(config).eval()
    model.save_pretrained(target_dir)
    _save_generation_config(
        model,
        target_dir,
        pad_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|endoftext|>"], ids["<|user|>"], ids["<|observation|>"]],
        do_sample=False,
    )
    processor.save_pretrained(target_dir)
    return target_dir


def _glm_tokenizer_cls():
    # GLM-4.1V ships a plain tokenizer.json (tokenizer_class PreTrainedTokenizerFast); a
    # byte-level BPE with the Qwen2 pre-tokenizer is an equivalent stand-in.
    from transformers import Qwen2Tokenizer

    return Qwen2Tokenizer


# --------------------------------------------------------------------------------------------
# 10. SDXL
# --------------------------------------------------------------------------------------------

SDXL_ADDITION_TIME_EMBED_DIM = 8


def build_sdxl(target_dir: Path) -> Path:
    """A tiny StableDiffusionXLPipeline saved with ``pipeline.save_pretrained`` (diffusers layout).

    * two CLIP text encoders (hidden 32 each; text_encoder_2 with a 32-d projection) with
      byte-level BPE tokenizers (``tokenizer/``, ``tokenizer_2/``);
    * UNet2DConditionModel with ``addition_embed_type="text_time"``,
      ``cross_attention_dim`` = 32 + 32 and ``projection_class_embeddings_input_dim`` =
      6 * addition_time_embed_dim + 32, ``sample_size`` 32 (default output 256x256);
    * AutoencoderKL with four blocks (scale factor 8, as real SDXL);
    * EulerAncestralDiscreteScheduler with ``timestep_spacing="trailing"`` (sdxl-turbo's).

    Loads with ``StableDiffusionXLPipeline.from_pretrained(dir)`` and
    ``AutoPipelineForText2Image.from_pretrained(dir)``; run 1 step with ``guidance_scale=0.0``.
    """
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    target_dir = _prepare(target_dir)
    _seed()
    tokenizer = _clip_tokenizer()
    tokenizer_2 = _clip_tokenizer()
    text_kwargs = _tiny_clip_text(
        len(tokenizer),
        bos=tokenizer.bos_token_id,
        eos=tokenizer.eos_token_id,
        pad=tokenizer.pad_token_id,
        projection_dim=32,
        hidden_act="gelu",
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(**text_kwargs)).eval()
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text_kwargs)).eval()
    cross_attention_dim = text_encoder.config.hidden_size + text_encoder_2.config.hidden_size
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        transformer_layers_per_block=(1, 1),
        use_linear_projection=True,
        norm_num_groups=8,
        cross_attention_dim=cross_attention_dim,
        addition_embed_type="text_time",
        addition_time_embed_dim=SDXL_ADDITION_TIME_EMBED_DIM,
        projection_class_embeddings_input_dim=6 * SDXL_ADDITION_TIME_EMBED_DIM + text_encoder_2.config.projection_dim,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 16, 16),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=256,
        scaling_factor=0.13025,  # SDXL's
        force_upcast=False,
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
        vae=vae.eval(),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet.eval(),
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.save_pretrained(target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# 11. Stable Diffusion safety checker
# --------------------------------------------------------------------------------------------


def build_sd_safety_checker(target_dir: Path) -> Path:
    """StableDiffusionSafetyChecker (tiny CLIP vision tower) + CLIPImageProcessor (32px).

    Loads with ``StableDiffusionSafetyChecker.from_pretrained(dir)`` and
    ``CLIPImageProcessor.from_pretrained(dir)`` (a.k.a. the pipelines' ``feature_extractor``).
    Its concept embeddings and thresholds are all ones, as the class initialises them, so a
    cosine similarity never exceeds its threshold: every image is reported safe. Tests that
    need a flagged image set ``concept_embeds_weights`` below the scores (e.g. to -1).
    """
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig

    target_dir = _prepare(target_dir)
    _seed()
    config = CLIPConfig(
        text_config=_tiny_clip_text(600, bos=0, eos=1, pad=1),
        vision_config=_tiny_clip_vision(CLIP_IMAGE_SIZE),
        projection_dim=16,
    )
    model = StableDiffusionSafetyChecker(config).eval()
    model.save_pretrained(target_dir)
    _image_processor(
        "CLIPImageProcessor",
        size={"shortest_edge": CLIP_IMAGE_SIZE},
        crop_size={"height": CLIP_IMAGE_SIZE, "width": CLIP_IMAGE_SIZE},
    ).save_pretrained(target_dir)
    return target_dir


# --------------------------------------------------------------------------------------------
# all of them
# --------------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[Path], Path]] = {
    "blip_caption": build_blip_caption,
    "clip": build_clip,
    "chinese_clip": build_chinese_clip,
    "vit": build_vit,
    "blip2": build_blip2,
    "instructblip": build_instructblip,
    "vilt": build_vilt,
    "qwen2_vl": build_qwen2_vl,
    "qwen2_5_vl": build_qwen2_5_vl,
    "qwen3_vl": build_qwen3_vl,
    "glm4v": build_glm4v,
    "glm4v_moe": build_glm4v_moe,
    "sdxl": build_sdxl,
    "sd_safety_checker": build_sd_safety_checker,
}


def build_all(root: Path) -> dict[str, Path]:
    """Build every family into ``root/<family>``; returns ``{family: directory}``."""
    root = Path(root)
    return {name: build(root / name) for name, build in BUILDERS.items()}


# --------------------------------------------------------------------------------------------
# Scripted generation (for end-to-end tests that need known answers from a chat VLM)
# --------------------------------------------------------------------------------------------

FORCE_BIAS = 100.0


def force_answers(source: Path, target_dir: Path, answers: dict[str, str], *, visible_fallback: bool = True) -> Path:
    """A copy of the chat-VLM checkpoint ``source`` whose greedy generation follows a script.

    After a user turn whose text is exactly a key of ``answers`` (whatever came before it: system
    prompt, photo, earlier turns), the model writes that answer and ends its turn. This is done
    with the checkpoint's own ``generation_config.json`` (``sequence_bias``: each next token of the
    answer gets a large bias when the tokens before it are the user text, the template's end of
    turn and the answer so far), so the bot loads and runs it like any checkpoint; the weights stay
    random. Any other prompt gets the random model's free text; with ``visible_fallback`` its
    whitespace tokens are biased against, so that text is visible (and as long as max_new_tokens).
    """
    import shutil

    from transformers import GenerationConfig

    target_dir = Path(target_dir)
    if target_dir.exists():
        shutil.rmtree(target_dir)
    shutil.copytree(source, target_dir)
    processor = load_qwen_image_processor(target_dir)
    tokenizer = processor.tokenizer
    generation = GenerationConfig.from_pretrained(target_dir)
    eos = generation.eos_token_id[0] if isinstance(generation.eos_token_id, list) else generation.eos_token_id
    marker = "\x1fUSER-TEXT\x1f"
    rendered = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "text", "text": marker}]}], add_generation_prompt=True, tokenize=False
    )
    suffix = rendered.split(marker, 1)[1]
    biases: dict[tuple[int, ...], float] = {}
    for user_text, answer in answers.items():
        tail = tokenizer(user_text + suffix, add_special_tokens=False)["input_ids"]
        output = tokenizer(answer, add_special_tokens=False)["input_ids"] + [eos]
        sequence = tail + output
        for i in range(len(output)):
            biases[tuple(sequence[: len(tail) + i + 1])] = FORCE_BIAS
    if visible_fallback:  # a bias, not suppress_tokens: the scripted answers still get their spaces
        for char in ("Ċ", "Ġ", "ĉ", "č"):
            biases[(tokenizer.convert_tokens_to_ids(char),)] = -FORCE_BIAS / 4
    generation.sequence_bias = [[list(ids), bias] for ids, bias in biases.items()]
    generation.save_pretrained(target_dir)
    return target_dir
