"""Safe image decoding: an allow-list of formats, a pixel cap, and clear errors for bad files."""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from bot import texts
from bot.errors import BadImage

# Formats Telegram users actually send; everything else (PSD, EPS, ICO, ...) is refused before decoding.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG covers MPO (phone cameras)


def configure_pillow(max_pixels: int) -> None:
    """Lower Pillow's own pixel cap to ours and make its bomb warning an error (process-wide, once at start)."""
    Image.MAX_IMAGE_PIXELS = max_pixels
    warnings.simplefilter("error", Image.DecompressionBombWarning)


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode `data` into an RGB image, or raise BadImage with a message for the user.

    The pixel count is checked from the header before any pixel is decoded. Animated images give
    their first frame; EXIF rotation is applied; transparency is flattened onto white.
    """
    if not data:
        raise BadImage("empty file", user_message=texts.EMPTY_FILE)
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
            width, height = img.size
            if width * height > max_pixels:
                raise _too_large(width, height, max_pixels)
            img.seek(0)
            img.load()
            img = ImageOps.exif_transpose(img)
            return _to_rgb(img)
    except BadImage:
        raise
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


# CLIP looks at 224 (or 336) pixels a side: photos waiting to be embedded are kept no larger than this
# on their short side, so a backlog of indexing jobs holds kilobytes, not a 40-megapixel photo each.
EMBED_SHORT_SIDE = 448


def shrink_for_embedding(img: Image.Image, short_side: int = EMBED_SHORT_SIDE) -> Image.Image:
    """`img` scaled down (never up) so its shorter side is `short_side`; the same for indexing and queries."""
    width, height = img.size
    scale = short_side / min(width, height)
    if scale >= 1:
        return img
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _too_large(width: int, height: int, max_pixels: int) -> BadImage:
    return BadImage(
        f"image of {width}x{height} pixels over the cap",
        user_message=texts.image_too_large(max_pixels, width, height),
    )
