"""Perceptual fingerprints of photos (for /reposts): two 64-bit hashes that survive recompression and resizing.

pHash (the low frequencies of a 32x32 DCT) and dHash (brightness gradients of a 9x8 thumbnail), both from
the `imagehash` package. A near-duplicate differs from the original in a few bits of each; two distinct
photos differ in about half of them (bench/repost_detection.py measures both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

BITS = 64


@dataclass(frozen=True)
class Fingerprint:
    """A photo's two perceptual hashes, as unsigned 64-bit integers."""

    phash: int
    dhash: int

    def distance(self, other: Fingerprint) -> tuple[int, int]:
        """How many bits of each hash differ: (pHash, dHash)."""
        return (self.phash ^ other.phash).bit_count(), (self.dhash ^ other.dhash).bit_count()


def fingerprint(image: Image) -> Fingerprint:
    """The image's fingerprint (CPU, ~1 ms for an image shrunk for embedding)."""
    import imagehash

    gray = image.convert("L")
    return Fingerprint(_as_int(imagehash.phash(gray)), _as_int(imagehash.dhash(gray)))


def _as_int(value: object) -> int:
    return int(str(value), 16)


def to_signed(value: int) -> int:
    """An unsigned 64-bit hash as SQLite's signed INTEGER."""
    return value - (1 << BITS) if value >= 1 << (BITS - 1) else value


def from_signed(value: int) -> int:
    return value + (1 << BITS) if value < 0 else value
