"""How well /reposts' perceptual-hash stage tells a repost from a distinct photo: rates, no timings.

Builds thousands of distinct natural-ish photos procedurally (1/f colour noise, the spectrum of natural
images, with a gradient sky and random shapes on top; seeded, no network), then:
* false positives: every pair of distinct photos is compared as the bot compares a new photo with a chat's
  earlier ones; printed per pair, and per photo (a chat already holding all the others: would it be
  flagged?);
* detection: copies of some of them recompressed (JPEG quality 30-90), resized (0.5-0.9) or lightly
  cropped (up to 10% off the sides), each compared with its original; printed per transform.
Photos are shrunk exactly as indexing shrinks them (bot.imaging.decode.shrink_for_embedding) before hashing.
The bot also requires the CLIP vectors to agree (bot.features.reposts.CLIP_MIN); no real CLIP weights
exist here, so that second gate, which can only remove false positives, is not measured.
Run: .venv/bin/python bench/repost_detection.py [--photos 2000] [--copies 300]  (~5 min on 2 cores)
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.features.reposts import DHASH_MAX, PHASH_MAX, fingerprint, is_near
from bot.imaging.decode import shrink_for_embedding
from bot.stores.reposts import Fingerprint


def natural_photo(seed: int, size: tuple[int, int] = (480, 360)) -> Image.Image:
    """A distinct photo-like image: 1/f noise in colour, a sky gradient, a few shapes, seeded."""
    rng = np.random.default_rng(seed)
    width, height = size
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    falloff = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / max(width, height)) ** rng.uniform(1.6, 2.4)
    channels = []
    for _ in range(3):
        spectrum = falloff * np.exp(2j * np.pi * rng.random(falloff.shape)) * rng.normal(1, 0.2, falloff.shape)
        field = np.fft.irfft2(spectrum, s=(height, width))
        channels.append((field - field.mean()) / (field.std() + 1e-9))
    mix = rng.normal(0, 1, (3, 3)) * 0.5 + np.eye(3)
    noise = np.tensordot(mix, np.stack(channels), axes=1)
    base = rng.uniform(40, 200, 3)[:, None, None]
    sky = np.linspace(rng.uniform(-60, 60), rng.uniform(-60, 60), height)[None, :, None]
    pixels = base + noise * rng.uniform(15, 45) + sky
    image = Image.fromarray(np.clip(pixels.transpose(1, 2, 0), 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 8)):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1, y1 = x0 + rng.integers(20, width // 2), y0 + rng.integers(20, height // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return image


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def transforms(rng: random.Random) -> dict[str, object]:
    def resized(image: Image.Image) -> Image.Image:
        scale = rng.uniform(0.5, 0.9)
        return jpeg(image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS), 85)

    def cropped(image: Image.Image) -> Image.Image:
        cut = rng.uniform(0.02, 0.10)  # of each dimension, split at random between the two sides
        dx, dy = round(image.width * cut), round(image.height * cut)
        left, top = rng.randint(0, dx), rng.randint(0, dy)
        return jpeg(image.crop((left, top, image.width - (dx - left), image.height - (dy - top))), 85)

    return {
        "recompressed (JPEG q 30-90)": lambda image: jpeg(image, rng.randint(30, 90)),
        "resized (0.5-0.9)": resized,
        "cropped (up to 10%)": cropped,
    }


def hashed(image: Image.Image) -> Fingerprint:
    return fingerprint(shrink_for_embedding(image))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000, help="distinct photos (false positives)")
    parser.add_argument("--copies", type=int, default=300, help="originals copied with each transform")
    args = parser.parse_args()
    started = time.monotonic()
    originals = [jpeg(natural_photo(seed), 92) for seed in range(args.photos)]
    prints = [hashed(image) for image in originals]
    phash = np.array([p.phash for p in prints], dtype=np.uint64)
    dhash = np.array([p.dhash for p in prints], dtype=np.uint64)
    pairs = flagged_pairs = 0
    flagged_photos = np.zeros(len(prints), dtype=bool)
    for i in range(1, len(prints)):
        dp = np.bitwise_count(phash[:i] ^ phash[i])
        dd = np.bitwise_count(dhash[:i] ^ dhash[i])
        near = (dp <= PHASH_MAX) & (dd <= DHASH_MAX)
        pairs += i
        flagged_pairs += int(near.sum())
        flagged_photos[i] = bool(near.any())
    every = np.bitwise_count(phash[:, None] ^ phash[None, :])[np.triu_indices(len(prints), 1)]
    print(f"thresholds: pHash <= {PHASH_MAX} and dHash <= {DHASH_MAX} differing bits of 64")
    print(f"{len(prints)} distinct photos, {pairs} pairs")
    print(f"  pHash distance between distinct photos: min {every.min()}, 1st percentile {np.percentile(every, 1):.0f}")
    print(f"  false positives: {flagged_pairs} pairs ({flagged_pairs / pairs:.2e} per pair)")
    print(
        f"  photos that would be flagged in a chat holding all the others: {int(flagged_photos.sum())} of "
        f"{len(prints)} ({flagged_photos.mean():.2%})"
    )
    rng = random.Random(7)
    for name, transform in transforms(rng).items():
        detected, distances = 0, []
        for index in range(min(args.copies, len(originals))):
            copy = hashed(transform(originals[index]))  # type: ignore[operator]
            distances.append(copy.distance(prints[index]))
            detected += is_near(copy, prints[index])
        count = min(args.copies, len(originals))
        worst_p = max(d[0] for d in distances)
        worst_d = max(d[1] for d in distances)
        rate = f"{detected} of {count} ({detected / count:.1%})"
        print(f"{name}: detected {rate}; worst distances pHash {worst_p}, dHash {worst_d}")
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
