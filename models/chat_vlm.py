"""What the multi-turn chat VLMs (Qwen-VL, GLM-4V) share: prompts with history trimmed to the context,
streamed generation, grounding, and questions about several photos at once (an album: the photos share
VLM_IMAGE_PIXELS). Each family's file says only what differs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Self

from transformers import AutoModelForImageTextToText, StoppingCriteriaList

from contract.errors import InputRejected, WorkerError
from contract.requests import Answer, AskRequest, Boxes, BoxRequest, Task, Turn
from models.base import Device, PartialTexts, StopOnInterrupt, on_device
from models.chat_format import visible_answer
from models.grounding import GroundingFormat, parse_boxes
from models.processors import load_image_only_processor
from models.quantization import is_placed, quantized_load_kwargs
from models.registry import read_model_type
from models.remote_vlm import smart_resize

if TYPE_CHECKING:
    from PIL.Image import Image

    from bot.settings import Settings
    from contract.worker import Interrupt, OnPartial

log = logging.getLogger(__name__)

# Markup a model may wrap its answer in; kept while decoding (grounding needs the box tags), hidden from users.
_KEEP_TOKENS = (
    "<think>",
    "</think>",
    "<|begin_of_box|>",
    "<|end_of_box|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
)
# Turns tokenized at a time while estimating how many fit the context.
_COUNT_BATCH = 16


class BatchMateFailed(RuntimeError):
    """One question of a batch can't be asked (e.g. too long for the context): not a WorkerError, so the
    queue runs the batch's jobs one by one and only that job gets its reply."""


def chat_messages(history: Sequence[Turn], question: str, photos: int = 1) -> list[dict[str, Any]]:
    """The chat for a prompt: earlier turns oldest first, then `question`. The photos (one placeholder each)
    go with the first user message, so they stay in the prompt whichever turns are trimmed away."""
    messages: list[dict[str, Any]] = []
    questions = [turn.question for turn in history] + [question]
    answers = [turn.answer for turn in history]
    for index, text in enumerate(questions):
        content: list[dict[str, str]] = [{"type": "text", "text": text}]
        if index == 0:
            content[:0] = [{"type": "image"}] * photos
        messages.append({"role": "user", "content": content})
        if index < len(answers):
            messages.append({"role": "assistant", "content": answers[index]})
    return messages


class ChatVlm:
    """Multi-turn /ask (streamed) and /box for an image-text-to-text chat model with an image-only processor.

    Subclasses set `image_token` (the placeholder the chat template writes once per image) and
    `grounding_format` / `grounding_prompt` for their family.
    """

    task: ClassVar[Task] = Task.ASK  # and Task.BOX (see the registry)
    streams: ClassVar[bool] = True
    image_token: ClassVar[str]
    # The image processor's pixel budget counts this many frames (GLM counts its two temporal frames).
    pixel_budget_frames: ClassVar[int] = 1

    def __init__(self, model, processor, device: Device, settings: Settings, model_type: str) -> None:
        self.model = model
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched answers all start right after their prompts
        self.device = device
        self.model_type = model_type
        self.max_new_tokens = settings.vlm_max_new_tokens
        text_config = getattr(model.config, "text_config", model.config)
        model_limit = getattr(text_config, "max_position_embeddings", None) or settings.vlm_context_tokens
        self.context_tokens = min(settings.vlm_context_tokens, model_limit)
        if self.max_new_tokens > self.context_tokens // 2:
            # Otherwise the answer's reserved room would leave (almost) none for the photo and the question.
            log.warning(
                "VLM_MAX_NEW_TOKENS=%d is more than half of the %d-token context; using %d",
                self.max_new_tokens,
                self.context_tokens,
                self.context_tokens // 2,
            )
            self.max_new_tokens = self.context_tokens // 2
        self._limit_image_pixels(settings.vlm_image_pixels)
        # One photo's pixel budget (VLM_IMAGE_PIXELS, or the processor's own lower limit); an album shares it.
        self.image_pixels = self.processor.image_processor.size["longest_edge"] // self.pixel_budget_frames
        self._hidden_tokens = [t for t in self.tokenizer.all_special_tokens if t not in _KEEP_TOKENS]
        self._per_turn: int | None = None

    @classmethod
    def load(cls, source: str, device: Device, settings: Settings) -> Self:
        processor = load_image_only_processor(source)
        load_kwargs = quantized_load_kwargs(settings.vlm_quantization, source, device)
        model = AutoModelForImageTextToText.from_pretrained(source, **load_kwargs)
        model = model.eval() if is_placed(load_kwargs) else on_device(model, device)
        return cls(model, processor, device, settings, read_model_type(source))

    def _limit_image_pixels(self, pixels: int) -> None:
        size = dict(self.processor.image_processor.size)
        budget = pixels * self.pixel_budget_frames
        size["longest_edge"] = min(size["longest_edge"], budget)
        size["shortest_edge"] = min(size["shortest_edge"], size["longest_edge"])
        self.processor.image_processor.size = size

    # -- the worker's entry point ----------------------------------------------------------------

    def run(
        self, requests: Sequence[AskRequest | BoxRequest], interrupt: Interrupt, on_partial: OnPartial | None = None
    ) -> list[Answer | Boxes]:
        """Answer the /ask requests together (one batched generation; each answer streams on its own
        through `on_partial`), then ground each /box request."""
        for request in requests:
            if not isinstance(request, (AskRequest, BoxRequest)):
                raise TypeError(f"{type(self).__name__} can't run {type(request).__name__}")
        results: list[Answer | Boxes | None] = [None] * len(requests)
        asks = [index for index, request in enumerate(requests) if isinstance(request, AskRequest)]
        if asks:
            questions = [request for request in requests if isinstance(request, AskRequest)]
            answers = self.ask_together(questions, interrupt, on_partial, asks)
            for index, answer in zip(asks, answers, strict=False):
                results[index] = answer
        for index, request in enumerate(requests):
            if isinstance(request, BoxRequest):
                results[index] = self.box(request, interrupt, row=index)
        done = [result for result in results if result is not None]
        assert len(done) == len(requests)  # every request is an ask or a box
        return done

    # -- prompts -----------------------------------------------------------------------------------

    def prompt(self, history: Sequence[Turn], question: str, photos: int = 1) -> str:
        """The chat template's text for `history` + `question` (an image placeholder per photo), ready to generate."""
        return self.processor.apply_chat_template(
            chat_messages(history, question, photos), add_generation_prompt=True, tokenize=False
        )

    def image_tokens(self, image: Image) -> int:
        """How many tokens the processor expands the image placeholder into for this photo."""
        image_processor = self.processor.image_processor
        patches = image_processor.get_number_of_image_patches(image.height, image.width, {})
        return patches // image_processor.merge_size**2

    def shared_budget(self, images: Sequence[Image]) -> list[Image]:
        """Several photos asked about together share VLM_IMAGE_PIXELS: each is scaled to at most budget/n pixels
        (as the processor would scale it: sides multiples of its patch grid), so the album costs what one photo
        may. One photo is left to the processor."""
        if len(images) < 2:
            return list(images)
        from PIL import Image as PILImage

        image_processor = self.processor.image_processor
        factor = image_processor.patch_size * image_processor.merge_size
        # The processor scales anything under its minimum back up: the share can't go below it.
        least = max(factor * factor, image_processor.size["shortest_edge"] // self.pixel_budget_frames)
        share = max(least, self.image_pixels // len(images))
        shared = []
        for image in images:
            height, width = smart_resize(image.height, image.width, factor, least, share)
            if height * width < least:  # rounded down below the minimum: the next size up the grid
                height, width = smart_resize(image.height, image.width, factor, least, least * 2)
            if (width, height) != image.size:
                image = image.resize((width, height), PILImage.Resampling.BICUBIC)
            shared.append(image)
        return shared

    def count_tokens(self, prompt: str, image_tokens: int) -> int:
        """Prompt length in tokens once the processor has expanded the image placeholder."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return len(ids) - prompt.count(self.image_token) + image_tokens

    def fit(self, image: Image | Sequence[Image], history: Sequence[Turn], question: str) -> tuple[str, int]:
        """The prompt with as many of the newest turns as fit the context budget, and how many that is.

        The budget is the context minus room for the answer; the photo (or the photos) and the question
        always stay, and the oldest turns go first. Raises InputRejected when not even those fit.
        A long history is not rendered whole: per-turn token counts (one batch tokenization)
        estimate how many turns fit, and the real prompt is checked around that estimate.
        """
        images = [image] if not isinstance(image, Sequence) else list(image)
        budget = self.context_tokens - self.max_new_tokens
        image_tokens = sum(self.image_tokens(i) for i in images)

        def measured(kept: int) -> tuple[int, str]:
            prompt = self.prompt(history[len(history) - kept :], question, len(images))
            return self.count_tokens(prompt, image_tokens), prompt

        base, prompt = measured(0)
        if base > budget:
            raise InputRejected("question does not fit the context")
        estimate = self._turns_within(history, budget - base)
        best = (0, prompt)
        kept = estimate
        while kept > 0:  # the estimate may be a little high: step down to what really fits
            used, prompt = measured(kept)
            if used <= budget:
                best = (kept, prompt)
                break
            kept -= 1
        while best[0] < len(history):  # ...or a little low: step up while the next turn still fits
            used, prompt = measured(best[0] + 1)
            if used > budget:
                break
            best = (best[0] + 1, prompt)
        return best[1], best[0]

    def _turns_within(self, history: Sequence[Turn], room: int) -> int:
        """How many of the newest turns fit in `room` tokens, by their token counts plus the template's share.

        Turns are tokenized newest first, a batch at a time, and only until the room is used up:
        a long stored history costs what fits, not what is stored.
        """
        per_turn = self._template_tokens_per_turn()
        used = kept = 0
        end = len(history)
        while end > 0:
            batch = history[max(0, end - _COUNT_BATCH) : end]
            texts = [t.question for t in batch] + [t.answer for t in batch]
            lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
            for index in range(len(batch) - 1, -1, -1):
                used += lengths[index] + lengths[len(batch) + index] + per_turn
                if used > room:
                    return kept
                kept += 1
            end -= len(batch)
        return kept

    def _template_tokens_per_turn(self) -> int:
        """The tokens the chat template adds around one question and answer (role headers, ends of turn)."""
        if self._per_turn is None:
            turn = Turn("question", "answer")
            with_turn = self.tokenizer(self.prompt([turn], "q"), add_special_tokens=False)["input_ids"]
            without = self.tokenizer(self.prompt([], "q"), add_special_tokens=False)["input_ids"]
            content = sum(len(self.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in ("question", "answer"))
            self._per_turn = max(0, len(with_turn) - len(without) - content)
        return self._per_turn

    # -- generation --------------------------------------------------------------------------------

    def decode(self, ids: Sequence[int]) -> str:
        """The model's raw output text: special tokens dropped except thinking and grounding markup."""
        text = self.tokenizer.decode(list(ids), skip_special_tokens=False)
        for token in self._hidden_tokens:
            text = text.replace(token, "")
        return text

    def _generate(
        self,
        prompts: Sequence[str],
        images: Sequence[Image],
        interrupt: Interrupt,
        emits: Sequence[Callable[[str], None] | None] | None = None,
        rows: Sequence[int] | None = None,
    ):
        """One generate() for several prompts (left-padded): the raw answers, and the inputs. `images` are every
        prompt's photos in order (one for each placeholder: one per prompt, or an album's several).

        `rows` are the batch's request indices of the prompts: a dropped request's row stops alone and
        stops streaming; `emits[i]` (if given) gets prompt i's answer so far.
        """
        rows = list(rows) if rows is not None else list(range(len(prompts)))
        inputs = self.processor(text=list(prompts), images=list(images), return_tensors="pt", padding=True)
        inputs = inputs.to(self.device.torch_device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        streamer = None
        if emits is not None and any(emit is not None for emit in emits):

            def guarded(emit, row):  # a cancelled answer stops showing, even before its row ends
                return lambda text: None if interrupt.is_set(row) else emit(text)

            streamer = PartialTexts(
                lambda ids: visible_answer(self.decode(ids)),
                [guarded(emit, row) if emit is not None else None for emit, row in zip(emits, rows, strict=False)],
            )
        output = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            stopping_criteria=StoppingCriteriaList([StopOnInterrupt(interrupt, rows)]),
            streamer=streamer,
        )
        start = inputs["input_ids"].shape[1]
        return [self.decode(row[start:].tolist()) for row in output], inputs

    def ask(self, request: AskRequest, interrupt: Interrupt, emit: Callable[[str], None] | None = None) -> Answer:
        """Answer one question, seeing as much of the conversation as fits."""
        on_partial = (lambda _index, text: emit(text)) if emit is not None else None
        return self.ask_together([request], interrupt, on_partial, [0])[0]

    def ask_together(
        self, requests: Sequence[AskRequest], interrupt: Interrupt, on_partial: OnPartial | None, rows: Sequence[int]
    ) -> list[Answer]:
        """Answer several questions in one batched generation, each seeing as much of its conversation as fits;
        answer i streams through on_partial(rows[i], text). A question that can't be asked fails the batch
        with BatchMateFailed (so the queue asks them one by one), or with its own error when alone."""
        fitted = []
        photos = [self.shared_budget(request.images) for request in requests]
        for request, images in zip(requests, photos, strict=True):
            try:
                fitted.append(self.fit(images, request.history, request.question))
            except WorkerError as exc:
                if len(requests) == 1:
                    raise
                raise BatchMateFailed(f"one of {len(requests)} questions can't be asked: {exc}") from exc
        for request, (prompt, kept) in zip(requests, fitted, strict=False):
            log.debug(
                "ask prompt (%d of %d earlier turns): %s",
                kept,
                len(request.history),
                json.dumps(prompt, ensure_ascii=False),
            )
        emits = None
        if on_partial is not None:
            emits = [lambda text, row=row: on_partial(row, text) for row in rows]
        started = time.monotonic()
        every_photo = [image for images in photos for image in images]
        raws, _ = self._generate([prompt for prompt, _ in fitted], every_photo, interrupt, emits, rows)
        if len(requests) > 1:
            log.info("answered %d questions together in %.1f s", len(requests), time.monotonic() - started)
        return [
            Answer(visible_answer(raw), history_used=kept, images_used=len(images))
            for raw, (_, kept), images in zip(raws, fitted, photos, strict=False)
        ]

    # -- grounding ---------------------------------------------------------------------------------

    def grounding_format(self) -> GroundingFormat:
        """How this model writes boxes (models.grounding)."""
        raise NotImplementedError

    def grounding_prompt(self, target: str) -> str:
        """What /box asks this model for `target`."""
        raise NotImplementedError

    def box(self, request: BoxRequest, interrupt: Interrupt, row: int = 0) -> Boxes:
        """Ask for every `target` in the photo and parse the boxes back into the photo's pixels."""
        prompt = self.prompt((), self.grounding_prompt(request.target))
        log.debug("box prompt: %s", json.dumps(prompt, ensure_ascii=False))
        (raw,), inputs = self._generate([prompt], [request.image], interrupt, rows=[row])
        # The size of the image the model saw: its patch grid (t, h, w) times the patch size.
        _, grid_h, grid_w = (int(v) for v in inputs["image_grid_thw"][0])
        patch = self.processor.image_processor.patch_size
        boxes = parse_boxes(
            raw,
            self.grounding_format(),
            request.image.size,
            model_size=(grid_w * patch, grid_h * patch),
            default_label=request.target,
        )
        log.debug("box answer %s -> %d boxes", json.dumps(raw, ensure_ascii=False), len(boxes))
        return Boxes(tuple(boxes), visible_answer(raw))
