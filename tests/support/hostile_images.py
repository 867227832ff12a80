"""Files that cost too much or decode wrongly, built in memory: the hostile inputs of the image tests and bench."""

from __future__ import annotations

import io
import struct

from PIL import Image


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def jpeg_segments(data: bytes) -> list[bytes]:
    """A baseline or progressive JPEG cut into its parts: SOI, each marker segment, each scan (its SOS
    header with the entropy-coded data after it), EOI."""
    parts, pos = [data[:2]], 2
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:
            parts.append(data[pos : pos + 2])
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or RSTn
            while not (data[end] == 0xFF and data[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        parts.append(data[pos:end])
        pos = end
    return parts


def many_scan_jpeg(scans: int, size: tuple[int, int] = (2000, 2000)) -> bytes:
    """A valid-looking progressive JPEG of `size` with about `scans` scans: the smallest luma scan of
    a plain progressive encoding, repeated. Each repeat is a few bytes (runs of empty blocks), yet the
    decoder walks every block of the image once per scan (libjpeg only warns about the repetition)."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    parts = jpeg_segments(encode(img, "JPEG", progressive=True, quality=90))
    sos = [i for i, p in enumerate(parts) if p[1] == 0xDA]
    luma = parts[sos[0]][5]  # the first scan (DC of all components) names the luma component first
    smallest = min((i for i in sos if parts[i][4] == 1 and parts[i][5] == luma), key=lambda i: len(parts[i]))
    extra = max(0, scans - len(sos))
    return b"".join(parts[: smallest + 1] + [parts[smallest]] * extra + parts[smallest + 1 :])


def strip_png(width: int = 1, height: int = 10_000) -> bytes:
    """A tiny file of an absurd aspect ratio (733 bytes for 1×10000)."""
    return encode(Image.new("RGB", (width, height), (20, 120, 200)), "PNG")


def gray16_png(size: tuple[int, int] = (256, 64)) -> bytes:
    """A 16-bit grayscale PNG: a left-to-right gradient over the full 0..65535 range."""
    width, height = size
    img = Image.new("I;16", size)
    img.putdata([x * 65535 // (width - 1) for _ in range(height) for x in range(width)])
    return encode(img, "PNG")


def trns_rgb_png(key: tuple[int, int, int] = (255, 0, 255), size: tuple[int, int] = (32, 32)) -> bytes:
    """An RGB PNG whose key colour (tRNS chunk) is transparent: its left half is that colour."""
    img = Image.new("RGB", size, (0, 128, 0))
    img.paste(key, (0, 0, size[0] // 2, size[1]))
    return encode(img, "PNG", transparency=key)


def heic(img: Image.Image) -> bytes:
    """`img` as an iPhone-style HEIC file (pillow-heif writes it)."""
    import pillow_heif

    heif = pillow_heif.from_pillow(img)
    out = io.BytesIO()
    heif.save(out, quality=90)
    return out.getvalue()
