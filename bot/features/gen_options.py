"""/gen's options (`/gen a red fox --seed 42 --size 768x512`) and the limits the configured model sets.

The syntax, documented in /help and by `/gen` alone: the prompt first, then options, each a word
starting with `--` (Telegram apps that turn `--` into a dash are understood too):

    --seed N     0 .. 4294967295; random when left out        --n N       1 .. 4 images
    --steps N    1 .. the model's limit                         --no words  negative prompt (to the next option)
    --size WxH   sides multiples of 64 within the model's range, or one number for a square
    --file       PNG documents instead of photos
    --strength S on a photo (image-to-image): 0.1 .. 1.0, how much of it is redrawn (default 0.5);
                 int(steps * S) steps run, which must be at least one (without --steps, the default
                 steps are raised until one runs, as far as the model's limit)

The limits depend on the model, and the bot knows the model's kind without loading it (or torch):
`GEN_MODEL_KIND=turbo|full` says it outright; `auto` (the default) calls it turbo when the model's
name has the word turbo, lightning, lcm or hyper in it, or its `scheduler/scheduler_config.json`
uses an LCM/TCD scheduler or "trailing" timesteps (sdxl-turbo's and SDXL-Lightning's set-up);
anything else is a full SDXL model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bot import texts
from bot.errors import BadInput, ModelUnavailable
from bot.stores.gen_store import GenParams
from contract.errors import WorkerError
from contract.requests import SEED_LIMIT, denoising_steps
from models.checkpoints import read_json

MAX_PROMPT_CHARS = 500
MAX_NEGATIVE_CHARS = 200
SIZE_STEP = 64  # the VAE halves the image 3 times and the UNet 3 more: sides must divide by 64
STRENGTH_RANGE = (0.1, 1.0)
DEFAULT_STRENGTH = 0.5  # keeps the photo's layout and colours, redraws its details (diffusers' img2img example)

TURBO_WORDS = frozenset({"turbo", "lightning", "lcm", "hyper"})
FEW_STEP_SCHEDULERS = frozenset({"LCMScheduler", "TCDScheduler"})


@dataclass(frozen=True)
class GenProfile:
    """What the configured text-to-image model can do, as far as /gen's options are concerned."""

    kind: str
    max_steps: int
    default_steps: int
    guidance: float  # 0 = no classifier-free guidance
    default_size: tuple[int, int]
    max_side: int
    min_side: int = 256
    max_count: int = 4

    @property
    def negative_prompt(self) -> bool:
        """A negative prompt only acts through classifier-free guidance (guidance > 1)."""
        return self.guidance > 1.0

    def allows(self, steps: int, width: int, height: int, count: int, negative_prompt: str | None) -> bool:
        """Whether settings saved earlier (under another GEN_MODEL, perhaps) fit this model."""
        return (
            1 <= steps <= self.max_steps
            and all(self.min_side <= s <= self.max_side and s % SIZE_STEP == 0 for s in (width, height))
            and 1 <= count <= self.max_count
            and (negative_prompt is None or self.negative_prompt)
        )


PROFILES = {
    # sdxl-turbo: trained for 1-4 steps without guidance at 512 px (its model card)
    "turbo": GenProfile("turbo", max_steps=4, default_steps=1, guidance=0.0, default_size=(512, 512), max_side=1024),
    # SDXL base: 1024 px, guidance 5 (diffusers' default), 25 steps is a common quality/speed balance
    "full": GenProfile("full", max_steps=50, default_steps=25, guidance=5.0, default_size=(1024, 1024), max_side=1536),
}


def model_kind(source: str, setting: str = "auto") -> str:
    """'turbo' or 'full' for the model at `source` (a local directory or a hub id); see the module doc.

    Reads at most one small JSON file (fetched from the hub for a hub id). Raises ModelUnavailable
    when a hub model's config can't be had.
    """
    if setting != "auto":
        return setting
    words = set(re.split(r"[^a-z0-9]+", "/".join(source.lower().replace("\\", "/").split("/")[-2:])))
    if words & TURBO_WORDS:
        return "turbo"
    config = _scheduler_config(source)
    if config.get("_class_name") in FEW_STEP_SCHEDULERS or config.get("timestep_spacing") == "trailing":
        return "turbo"
    return "full"


def _scheduler_config(source: str) -> dict[str, Any]:
    """The scheduler config ({} when there is none: nothing says it's a few-step model)."""
    try:
        return read_json(source, "scheduler_config.json", subfolder="scheduler") or {}
    except WorkerError as exc:  # offline, no such repo, not a valid id: the model can't load either
        raise ModelUnavailable(f"gen model {source!r}: no scheduler config: {exc}") from None


OPTIONS = ("seed", "steps", "size", "n", "no", "file", "strength")
_DASHES = ("--", "—", "–")  # iOS/macOS Telegram turns a typed "--" into an em or en dash
_INTEGER = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^(\d+(\.\d*)?|\.\d+)$")
_SIZE = re.compile(r"^(\d+)(?:[x×X*](\d+))?$")


def _option(token: str) -> str | None:
    """'seed' for '--seed' (or '—seed'); None for anything that isn't an option word."""
    for dash in _DASHES:
        if token.startswith(dash) and token[len(dash) : len(dash) + 1].isalpha():
            return token[len(dash) :].lower()
    return None


def parse_gen_args(
    text: str, profile: GenProfile, *, on_photo: bool = False, photo_size: tuple[int, int] | None = None
) -> GenParams:
    """Parse what follows /gen; raises BadInput naming the bad option and its allowed range.

    `on_photo`: the command came with a photo to redraw (image-to-image): --strength applies (and gets its
    default), and without --size the picture takes the photo's shape (`photo_size`, once it is known) at the
    model's default pixel count. The caller sets the source photo's file id.
    """
    tokens = text.split()
    first = next((i for i, t in enumerate(tokens) if _option(t) is not None), len(tokens))
    prompt = " ".join(tokens[:first])
    if not prompt:
        raise BadInput("options without a prompt", user_message=texts.GEN_PROMPT_FIRST)
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadInput(
            f"prompt of {len(prompt)} chars", user_message=texts.too_long("prompt", len(prompt), MAX_PROMPT_CHARS)
        )

    values: dict[str, str | None] = {}
    i = first
    while i < len(tokens):
        name = _option(tokens[i])
        if name is None:
            end = next((j for j in range(i, len(tokens)) if _option(tokens[j]) is not None), len(tokens))
            raise BadInput("words after the options", user_message=texts.stray_words(" ".join(tokens[i:end])))
        if name not in OPTIONS:
            raise BadInput(f"unknown option {name!r}", user_message=texts.unknown_option(name))
        if name in values:
            raise BadInput(f"--{name} twice", user_message=texts.option_twice(name))
        if name == "file":
            values[name], i = None, i + 1
        elif name == "no":
            end = next((j for j in range(i + 1, len(tokens)) if _option(tokens[j]) is not None), len(tokens))
            values[name], i = " ".join(tokens[i + 1 : end]), end
        elif i + 1 < len(tokens) and _option(tokens[i + 1]) is None:
            values[name], i = tokens[i + 1], i + 2
        else:
            raise BadInput(f"--{name} without a value", user_message=texts.option_needs_value(name))

    width, height = profile.default_size
    if "size" in values:
        width, height = _size(values["size"] or "", profile)
    elif on_photo and photo_size is not None:
        width, height = shaped_like(photo_size, profile)
    negative = None
    if "no" in values:
        negative = values["no"] or ""
        if not profile.negative_prompt:
            raise BadInput("--no on a model without guidance", user_message=texts.NEGATIVE_UNSUPPORTED)
        if not negative:
            raise BadInput("--no without words", user_message=texts.option_needs_value("no"))
        if len(negative) > MAX_NEGATIVE_CHARS:
            raise BadInput(
                "long negative prompt", user_message=texts.too_long("negative", len(negative), MAX_NEGATIVE_CHARS)
            )
    steps = _integer(values, "steps", 1, profile.max_steps, profile.default_steps) or profile.default_steps
    strength = None
    if on_photo:
        strength = _strength(values)
        if "steps" not in values:  # the fewest steps from the default up that run one at this strength
            while denoising_steps(steps, strength) < 1 and steps < profile.max_steps:
                steps += 1
        if denoising_steps(steps, strength) < 1:
            raise BadInput(f"{steps} steps at strength {strength}", user_message=texts.no_step_to_run(steps, strength))
    elif "strength" in values:
        raise BadInput("--strength without a photo", user_message=texts.STRENGTH_NEEDS_PHOTO)
    return GenParams(
        prompt=prompt,
        steps=steps,
        width=width,
        height=height,
        count=_integer(values, "n", 1, profile.max_count, 1) or 1,
        seed=_integer(values, "seed", 0, SEED_LIMIT - 1, None),
        negative_prompt=negative,
        as_file="file" in values,
        strength=strength,
    )


def shaped_like(photo_size: tuple[int, int], profile: GenProfile) -> tuple[int, int]:
    """A size with the photo's aspect ratio and about the model's default pixel count, sides multiples of 64
    within the model's range (a very long or thin photo is cropped to the nearest shape that fits)."""
    photo_width, photo_height = photo_size
    area = profile.default_size[0] * profile.default_size[1]
    aspect = photo_width / max(1, photo_height)

    def side(value: float) -> int:
        return min(profile.max_side, max(profile.min_side, round(value / SIZE_STEP) * SIZE_STEP))

    return side(math.sqrt(area * aspect)), side(math.sqrt(area / aspect))


def _strength(values: dict[str, str | None]) -> float:
    if "strength" not in values:
        return DEFAULT_STRENGTH
    raw = values["strength"] or ""
    low, high = STRENGTH_RANGE
    if not _DECIMAL.match(raw) or not low <= float(raw) <= high:
        raise BadInput(f"--strength {raw!r}", user_message=texts.strength_range(low, high))
    return float(raw)


def _integer(values: dict[str, str | None], name: str, low: int, high: int, default: int | None) -> int | None:
    if name not in values:
        return default
    raw = values[name] or ""
    if not _INTEGER.match(raw) or not low <= int(raw) <= high:
        raise BadInput(f"--{name} {raw!r}", user_message=texts.option_range(name, low, high))
    return int(raw)


def _size(raw: str, profile: GenProfile) -> tuple[int, int]:
    match = _SIZE.match(raw)
    sides = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else ()
    if not sides or any(s % SIZE_STEP or not profile.min_side <= s <= profile.max_side for s in sides):
        raise BadInput(f"--size {raw!r}", user_message=texts.size_range(profile.min_side, profile.max_side))
    return sides
