"""Safe image decoding: an allow-list of formats, caps on pixels, aspect ratio, JPEG scans and CPU time,
decoding no larger than the models need, and clear errors for bad files."""

from __future__ import annotations

import io
import math
import re
import time
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from bot import texts
from bot.errors import BadImage

try:  # photos sent "as file" from iPhones are HEIC; Pillow reads AVIF itself
    import pillow_heif

    pillow_heif.register_heif_opener()
    _HEIF: tuple[str, ...] = ("HEIF",)
except ImportError:  # pragma: no cover - pillow-heif is a dependency; without it HEIC is refused as unreadable
    _HEIF = ()

# Formats Telegram users actually send; everything else (PSD, EPS, ICO, ...) is refused before decoding.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", *_HEIF)  # JPEG covers MPO (phone cameras)

# libjpeg walks every block of the image once per scan, and a scan can be a few bytes: 20,000 scans of a
# 36 MP image decode for minutes. Encoders write 10 (libjpeg's and Pillow's progressive script: DC, then
# AC bands per component, then refinements; 6 for grayscale) and scan-optimising ones (mozjpeg, jpegtran
# -optimize) stay around 20, so 100 leaves room for any real encoder while bounding the worst file at the
# pixel cap to about 100 passes over its blocks (~0.5 s here for 36 MP of cheap scans).
MAX_JPEG_SCANS = 100
# Qwen-VL's processor refuses images more than 200 times longer than wide, and no photo model has a use
# for such a ribbon (CLIP scales its short side up to 224: a 1×10000 PNG becomes gigabytes of floats).
MAX_ASPECT_RATIO = 200
# A decode's own CPU time (not wall time, so a busy machine doesn't refuse good photos). The caps above
# bound the work already (a 40 MP photo decodes in ~1 s here); this catches what they don't foresee.
DECODE_CPU_LIMIT_S = 10.0
# Decoded images for commands are no larger than this a side: Telegram's own largest photo side, so a
# photo is never resampled; only bigger files sent as documents are. Every model looks at far less
# (CLIP 224-336, BLIP 384, ViT 224, the VLM about 1 MP), and /box draws on at most 2560 a side.
COMMAND_MAX_SIDE = 2560
# CLIP looks at 224 (or 336) pixels a side: photos waiting to be embedded are kept no larger than this
# on their short side, so a backlog of indexing jobs holds kilobytes, not a 40-megapixel photo each.
EMBED_SHORT_SIDE = 448
# ...and no longer than this many times that on their long side (a phone panorama is about 4:1): longer
# ones are padded with white, since CLIP's processor would scale a thin strip's short side up to 224.
EMBED_MAX_RATIO = 4

_HIGH_BIT_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_DECODE_BLOCK = 16 * 1024  # bytes fed to the decoder between CPU-time checks
# In a scan's entropy-coded data 0xFF is followed by a stuffed 0x00 or a restart marker; anything else
# after 0xFF is the marker that ends the scan.
_END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def configure_pillow(max_pixels: int) -> None:
    """Lower Pillow's own pixel cap to ours and make its bomb warning an error (process-wide, once at start)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def decode_image(
    data: bytes, max_pixels: int, *, max_side: int | None = COMMAND_MAX_SIDE, cpu_limit_s: float = DECODE_CPU_LIMIT_S
) -> Image.Image:
    """Decode `data` into an RGB image no larger than `max_side` a side, or raise BadImage with a message
    for the user.

    The pixel count, aspect ratio and (for JPEG) number of scans are checked before any pixel is
    decoded; JPEGs decode straight at a reduced scale where that is enough. Animated images give their
    first frame; EXIF rotation is applied; high bit depths are scaled to 8 bits; transparency of every
    kind is flattened onto white.
    """

    def scale(width: int, height: int) -> float:
        return max_side / max(width, height) if max_side else 1.0

    img = _decode(data, max_pixels, scale, cpu_limit_s)
    return _resized(img, scale(*img.size))


def decode_for_embedding(data: bytes, max_pixels: int, *, cpu_limit_s: float = DECODE_CPU_LIMIT_S) -> Image.Image:
    """Decode `data` straight to what photo indexing and search embed (see shrink_for_embedding)."""
    return shrink_for_embedding(_decode(data, max_pixels, _embedding_scale, cpu_limit_s))


def shrink_for_embedding(img: Image.Image, short_side: int = EMBED_SHORT_SIDE) -> Image.Image:
    """`img` scaled down (never up) so its shorter side is `short_side`; the same for indexing and queries.

    An image longer than EMBED_MAX_RATIO to one is scaled so its long side is at most that many short
    sides, then padded with white to that ratio, so no processor blows a thin strip up to 224 pixels wide.
    """
    img = _resized(img, _embedding_scale(*img.size, short_side))
    width, height = img.size
    if max(width, height) <= EMBED_MAX_RATIO * min(width, height):
        return img
    padded = (
        (width, math.ceil(width / EMBED_MAX_RATIO)) if width > height else (math.ceil(height / EMBED_MAX_RATIO), height)
    )
    canvas = Image.new("RGB", padded, (255, 255, 255))
    canvas.paste(img, ((padded[0] - width) // 2, (padded[1] - height) // 2))
    return canvas


def jpeg_scans(data: bytes, stop_after: int = MAX_JPEG_SCANS) -> int:
    """How many scans (SOS markers) the first image of a JPEG has, counted without decoding any of them
    (up to `stop_after` + 1: past the cap the exact number doesn't matter)."""
    scans, pos, end = 0, 2, len(data)
    while pos + 1 < end and scans <= stop_after:
        if data[pos] != 0xFF:  # stray bytes between segments: libjpeg skips to the next marker, so do we
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
        elif marker == 0xD9:  # end of the image (an MPO's next image is never decoded)
            break
        elif marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
        else:
            if pos + 4 > end:
                break
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker == 0xDA:
                scans += 1
                found = _END_OF_SCAN.search(data, pos)
                if found is None:
                    break
                pos = found.start()
    return scans


def _embedding_scale(width: int, height: int, short_side: int = EMBED_SHORT_SIDE) -> float:
    if max(width, height) > EMBED_MAX_RATIO * min(width, height):
        return EMBED_MAX_RATIO * short_side / max(width, height)
    return short_side / min(width, height)


def _decode(data: bytes, max_pixels: int, scale_for, cpu_limit_s: float) -> Image.Image:
    """Open, check and load `data` as an RGB image, reduced on load (JPEG draft) to no less than
    `scale_for(width, height)` of its size."""
    if not data:
        raise BadImage("empty file", user_message=texts.EMPTY_FILE)
    stream = _CpuBudget(data)
    try:
        with Image.open(stream, formats=ALLOWED_FORMATS) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise _too_large(width, height, max_pixels)
            if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
                raise BadImage(
                    f"image of {width}x{height} pixels over the aspect ratio cap",
                    user_message=texts.image_too_thin(width, height, MAX_ASPECT_RATIO),
                )
            if img.format in ("JPEG", "MPO"):
                scans = jpeg_scans(data)
                if scans > MAX_JPEG_SCANS:
                    raise BadImage(
                        f"JPEG of over {MAX_JPEG_SCANS} scans", user_message=texts.too_many_scans(MAX_JPEG_SCANS)
                    )
                scale = scale_for(width, height)
                if scale < 1:
                    img.draft(img.mode, (math.ceil(width * scale), math.ceil(height * scale)))
            img.seek(0)
            img.decodermaxblock = _DECODE_BLOCK
            stream.start(cpu_limit_s)
            img.load()
            stream.stop()
            return _to_rgb(ImageOps.exif_transpose(img))
    except BadImage:
        raise
    except _TooSlow:
        raise BadImage(f"decoding took over {cpu_limit_s} s of CPU time", user_message=texts.IMAGE_TOO_SLOW) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImage(f"decompression bomb: {exc}", user_message=texts.image_too_large(max_pixels)) from None
    except UnidentifiedImageError:
        raise BadImage(
            "not an allowed image format",
            user_message=texts.NOT_AN_IMAGE,
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise BadImage(
            f"corrupt image: {exc}",
            user_message=texts.CORRUPT_IMAGE,
        ) from None


class _TooSlow(Exception):
    pass


class _CpuBudget(io.BytesIO):
    """The file as the decoder reads it, block by block: a read after the decode's CPU time ran out stops it."""

    _until: float | None = None

    def start(self, limit_s: float) -> None:
        self._until = time.thread_time() + limit_s  # this thread's own CPU time: the decoder runs on it

    def stop(self) -> None:
        self._until = None

    def read(self, size: int | None = -1, /) -> bytes:
        if self._until is not None and time.thread_time() > self._until:
            raise _TooSlow
        return super().read(size)


def _resized(img: Image.Image, scale: float) -> Image.Image:
    """`img` scaled down by `scale` (never up); the short side rounds up, so the aspect ratio never grows."""
    if scale >= 1:
        return img
    width, height = img.size
    if width >= height:
        size = (max(1, round(width * scale)), max(1, math.ceil(height * scale - 1e-6)))
    else:
        size = (max(1, math.ceil(width * scale - 1e-6)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in _HIGH_BIT_DEPTH:
        gray, transparent = _to_8_bit(img)
        rgb = gray.convert("RGB")
        if transparent is not None:
            rgb.paste((255, 255, 255), mask=transparent)
        return rgb
    if img.mode in _TRANSPARENT_MODES or "transparency" in img.info:
        # Covers alpha channels, palettes with transparent entries and RGB/L images with a tRNS key colour.
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _to_8_bit(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """A 16-bit, 32-bit or float grayscale image as 8-bit "L" (convert() would clip it to white), and the
    mask of its tRNS key colour if it has one.

    16-bit samples map 0..65535 onto 0..255, also in 32-bit images that hold them (how some decoders
    give 16-bit PNG and TIFF); other integer and float images are stretched from their own minimum to
    maximum (floats within 0..1 are taken as they are).
    """
    import numpy as np

    pixels = np.asarray(img)
    low, high = pixels.min(), pixels.max()
    if img.mode.startswith("I;16") or (img.mode == "I" and low >= 0 and high <= 0xFFFF):
        gray = (pixels >> 8).astype(np.uint8)
    else:
        if img.mode == "F" and low >= 0 and high <= 1:
            low, high = 0.0, 1.0
        span = max(float(high) - float(low), 1e-12)
        gray = ((pixels.astype(np.float32) - float(low)) * (255 / span)).round().clip(0, 255).astype(np.uint8)
    key = img.info.get("transparency")
    transparent = None
    if isinstance(key, (int, float)):
        transparent = Image.fromarray(np.where(pixels == key, 255, 0).astype(np.uint8), "L")
    return Image.fromarray(gray, "L"), transparent


def _too_large(width: int, height: int, max_pixels: int) -> BadImage:
    return BadImage(
        f"image of {width}x{height} pixels over the cap",
        user_message=texts.image_too_large(max_pixels, width, height),
    )
