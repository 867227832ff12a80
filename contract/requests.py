"""What the bot asks of a model worker and what comes back: tasks, requests and results (frozen dataclasses).

No torch and nothing of the bot: the bot process, the local worker thread and Ray replicas share these types.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from PIL.Image import Image


R = TypeVar("R", covariant=True)


class Asks(Generic[R]):
    """A request whose result, from the worker, is an `R` (so `UserRequest.run(CaptionRequest(...))` is a Caption)."""

    __slots__ = ()


class Task(StrEnum):
    """What a job asks of a model; each task has one configured model."""

    CAPTION = "caption"
    GENERATE = "gen"
    CLASSIFY = "classify"
    ASK = "ask"
    BOX = "box"
    EMBED = "embed"  # CLIP: photo indexing and /find


@dataclass(frozen=True, eq=False)
class CaptionRequest(Asks["Caption"]):
    """/caption: describe `image`, continuing `prefix` when given (BLIP's conditional captioning)."""

    image: Image
    prefix: str | None = None

    task = Task.CAPTION

    @property
    def batch_key(self) -> Hashable:
        """Requests with equal keys may share one forward pass."""
        return self.task


@dataclass(frozen=True)
class Caption:
    text: str


SEED_LIMIT = 2**32  # seeds are 0 .. 2**32 - 1, as torch.Generator.manual_seed and most UIs take them


@dataclass(frozen=True, eq=False)
class GenerateRequest(Asks["GeneratedImages"]):
    """/gen: `count` images of `prompt`; image i is seeded with `seed + i`, so each can be redrawn alone.

    `guidance` 0 means no classifier-free guidance (turbo models); then `negative_prompt` has no effect.
    `check_safety` asks the worker to run the safety checker (when one is configured) on every image.
    With `source` (image-to-image), every image redraws that photo, fitted to width x height (centre crop, no
    stretching); `strength` (0 < s <= 1) is how much of it is redrawn: int(steps * strength) steps run.
    """

    prompt: str
    seed: int
    steps: int
    width: int
    height: int
    guidance: float
    count: int = 1
    negative_prompt: str | None = None
    check_safety: bool = False
    source: Image | None = None
    strength: float = 1.0

    task = Task.GENERATE

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple((self.seed + i) % SEED_LIMIT for i in range(self.count))

    @property
    def batch_key(self) -> Hashable:
        """One pipeline call takes one size, step count and guidance; negative prompts all or none
        (the pipeline encodes "no negative prompt" as zeros, which a batch mate's text would change);
        image-to-image requests batch with each other at one strength."""
        redraw = self.strength if self.source is not None else None
        return self.task, self.width, self.height, self.steps, self.guidance, self.negative_prompt is not None, redraw

    @property
    def denoising_steps(self) -> int:
        """The steps that really run: all of them, or (image-to-image) int(steps * strength), as diffusers counts."""
        return self.steps if self.source is None else denoising_steps(self.steps, self.strength)


def denoising_steps(steps: int, strength: float) -> int:
    """How many of `steps` an image-to-image run at `strength` takes (diffusers' get_timesteps): 0 runs nothing."""
    return min(int(steps * strength), steps)


@dataclass(frozen=True)
class GeneratedImage:
    seed: int
    png: bytes


@dataclass(frozen=True)
class GeneratedImages:
    """The images that passed the safety check, in seed order, as PNG files; `blocked` were withheld."""

    images: tuple[GeneratedImage, ...]
    blocked: tuple[int, ...] = ()  # seeds of the images the safety checker withheld


@dataclass(frozen=True, eq=False)
class ClassifyRequest(Asks["Classification"]):
    """/classify: the `top_k` most likely labels of `image`."""

    image: Image
    top_k: int = 5

    task = Task.CLASSIFY

    @property
    def batch_key(self) -> Hashable:
        return self.task


@dataclass(frozen=True)
class Classification:
    """(label, probability) pairs, most likely first; probabilities are a softmax over every label."""

    labels: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of a conversation about a photo."""

    question: str
    answer: str


@dataclass(frozen=True, eq=False)
class AskRequest(Asks["Answer"]):
    """/ask: answer `question` about `image`, seeing the conversation's earlier `history` (oldest first).

    Multi-turn models trim `history` to their context, oldest turns first; single-turn ones ignore it.
    An album's other photos come in `more_images`: multi-image models see them all (sharing one pixel
    budget), single-image ones only `image` (their Answer says so through `images_used`).
    """

    image: Image
    question: str
    history: tuple[Turn, ...] = ()
    more_images: tuple[Image, ...] = ()

    task = Task.ASK
    streamed = True  # the worker reports partial answers while it generates

    @property
    def batch_key(self) -> Hashable:
        """Asks to one model decode together (each answer still streams on its own); a batch's jobs start
        together, so one deadline fits them all, and a cancel stops only its own answer (Interrupt.drop)."""
        return self.task

    @property
    def images(self) -> tuple[Image, ...]:
        """Every photo asked about, the first one first."""
        return (self.image, *self.more_images)


@dataclass(frozen=True)
class Answer:
    """The model's answer; `history_used` = how many of the newest earlier turns fit its context
    (None for single-turn models, which see no history); `images_used` = how many of the request's
    photos it saw (single-image models: the first only)."""

    text: str
    history_used: int | None = None
    images_used: int = 1

    @property
    def multi_turn(self) -> bool:
        """Whether the model saw the conversation (single-turn models answer each question on its own)."""
        return self.history_used is not None


@dataclass(frozen=True, eq=False)
class BoxRequest(Asks["Boxes"]):
    """/box: find every `target` in `image` (grounding)."""

    image: Image
    target: str

    task = Task.BOX

    @property
    def batch_key(self) -> Hashable:
        return (self.task, id(self))


@dataclass(frozen=True)
class Box:
    """A labelled box in the original photo's pixels: (x1, y1) top-left, (x2, y2) bottom-right, inclusive."""

    label: str
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Boxes:
    """Where the model found the target: boxes in the original photo's pixels, and its raw answer."""

    found: tuple[Box, ...]
    text: str


@dataclass(frozen=True, eq=False)
class EmbedImageRequest(Asks["Embedding"]):
    """Photo indexing and /find by example: CLIP's normalised image embedding of `image`."""

    image: Image

    task = Task.EMBED

    @property
    def batch_key(self) -> Hashable:
        return (self.task, "image")


@dataclass(frozen=True, eq=False)
class EmbedTextRequest(Asks["Embedding"]):
    """/find by words: CLIP's normalised text embedding of `text`."""

    text: str

    task = Task.EMBED

    @property
    def batch_key(self) -> Hashable:
        return (self.task, "text")


@dataclass(frozen=True)
class Embedding:
    """A unit-length CLIP embedding and the model it came from (the index never mixes models)."""

    vector: tuple[float, ...]
    model: str

    @property
    def dim(self) -> int:
        return len(self.vector)


Request = (
    CaptionRequest | GenerateRequest | ClassifyRequest | AskRequest | BoxRequest | EmbedImageRequest | EmbedTextRequest
)
Result = Caption | GeneratedImages | Classification | Answer | Boxes | Embedding
