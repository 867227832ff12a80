"""Perceptual hashes of photos (for /reposts): two 64-bit hashes that survive recompression and resizing.

pHash (the low frequencies of a 32x32 DCT) and dHash (brightness gradients of a 9x8 thumbnail), both from
the `imagehash` package. A near-duplicate differs from the original in a few bits of each; two distinct
photos differ in about half of them (bench/repost_detection.py measures both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image


def perceptual_hashes(image: Image) -> tuple[int, int]:
    """(pHash, dHash) of the image as unsigned 64-bit integers (CPU, ~1 ms for an image shrunk for embedding)."""
    import imagehash

    gray = image.convert("L")
    return int(str(imagehash.phash(gray)), 16), int(str(imagehash.dhash(gray)), 16)
