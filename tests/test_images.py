"""decode_image: the allow-list, the pixel cap and clear errors for broken files."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageFile

from bot.errors import BadImage
from bot.imaging import decode as images
from bot.imaging.decode import (
    COMMAND_MAX_SIDE,
    EMBED_MAX_RATIO,
    MAX_ASPECT_RATIO,
    MAX_JPEG_SCANS,
    configure_pillow,
    decode_for_embedding,
    decode_image,
    jpeg_scans,
    shrink_for_embedding,
)
from tests.support.hostile_images import (
    gray16_png,
    heic,
    many_scan_jpeg,
    strip_png,
    trns_rgb_png,
)

CAP = 4_000_000


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def test_jpeg_png_webp_decode_to_rgb():
    for fmt in ("JPEG", "PNG", "WEBP", "BMP", "TIFF"):
        img = decode_image(encode(Image.new("RGB", (40, 30), (10, 200, 30)), fmt), CAP)
        assert (img.mode, img.size) == ("RGB", (40, 30))


def test_transparency_is_flattened_onto_white():
    img = decode_image(encode(Image.new("RGBA", (8, 8), (255, 0, 0, 0)), "PNG"), CAP)
    assert img.getpixel((0, 0)) == (255, 255, 255)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = io.BytesIO()
    frames[0].save(data, "GIF", save_all=True, append_images=frames[1:], duration=50)
    img = decode_image(data.getvalue(), CAP)
    r, _g, b = img.getpixel((1, 1))
    assert r > 200 and b < 50


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (60, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    decoded = decode_image(encode(img, "JPEG", exif=exif), CAP)
    assert decoded.size == (20, 60)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 not an image at all", "isn't an image"),
        (b"\xff\xd8\xff\xe0" + b"\x00garbage" * 20, "isn't an image"),
    ],
)
def test_unreadable_files_get_a_clear_message(data, says):
    with pytest.raises(BadImage) as error:
        decode_image(data, CAP)
    assert says in error.value.user_message.en


def test_truncated_jpeg_is_refused():
    data = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "JPEG")
    with pytest.raises(BadImage) as error:
        decode_image(data[: len(data) // 2], CAP)
    assert "corrupt or truncated" in error.value.user_message.en


def test_truncated_png_is_refused():
    data = encode(Image.effect_noise((200, 200), 50).convert("RGB"), "PNG")
    with pytest.raises(BadImage) as error:
        decode_image(data[: len(data) // 2], CAP)
    assert "corrupt or truncated" in error.value.user_message.en


def test_decompression_bomb_is_refused_from_its_header():
    # 8000×8000 of one colour compresses to a few kB but is 64 megapixels.
    data = encode(Image.new("1", (8000, 8000)), "PNG")
    assert len(data) < 50_000
    with pytest.raises(BadImage) as error:
        decode_image(data, CAP)
    assert "8000×8000" in error.value.user_message.en
    assert "4 megapixels" in error.value.user_message.en


def test_pillow_cap_is_lowered_and_bomb_warning_is_an_error(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
    import warnings

    with warnings.catch_warnings():
        configure_pillow(1_000_000)
        assert Image.MAX_IMAGE_PIXELS == 1_000_000
        data = encode(Image.new("L", (1500, 1000)), "PNG")  # 1.5 MP: Pillow would only warn
        with pytest.raises(Image.DecompressionBombWarning):
            Image.open(io.BytesIO(data))


def test_formats_outside_the_allow_list_are_refused():
    data = encode(Image.new("RGB", (16, 16)), "ICO")
    with pytest.raises(BadImage):
        decode_image(data, CAP)


# -- files that cost too much (issue 12, section 4) ---------------------------------------------------


@pytest.mark.parametrize(
    ("data", "scans"),
    [
        (encode(Image.effect_noise((64, 48), 50).convert("RGB"), "JPEG"), 1),
        (encode(Image.effect_noise((64, 48), 50).convert("RGB"), "JPEG", progressive=True), 10),
        (encode(Image.effect_noise((64, 48), 50), "JPEG", progressive=True), 6),  # grayscale
        # Restart markers and stuffed 0xFF00 bytes inside the entropy-coded data are not scans.
        (
            encode(
                Image.effect_noise((256, 256), 90).convert("RGB"), "JPEG", progressive=True, restart_marker_blocks=1
            ),
            10,
        ),
        (many_scan_jpeg(500, (64, 64)), 500),
    ],
)
def test_jpeg_scans_are_counted_without_decoding(data, scans):
    assert jpeg_scans(data, stop_after=10_000) == scans


def test_a_jpeg_of_absurdly_many_scans_is_refused_before_decoding(monkeypatch):
    data = many_scan_jpeg(MAX_JPEG_SCANS + 50, (256, 256))
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded a refused JPEG"))
    with pytest.raises(BadImage) as error:
        decode_image(data, CAP)
    assert f"the limit is {MAX_JPEG_SCANS}" in error.value.user_message.en


def test_an_ordinary_progressive_jpeg_still_decodes():
    data = encode(Image.new("RGB", (300, 200), (200, 10, 10)), "JPEG", progressive=True)
    assert decode_image(data, CAP).getpixel((150, 100))[0] > 180


def test_decoding_stops_when_its_cpu_time_runs_out():
    data = many_scan_jpeg(MAX_JPEG_SCANS - 10, (3000, 3000))  # allowed, but not in 10 ms of CPU
    with pytest.raises(BadImage) as error:
        decode_image(data, CAP * 4, cpu_limit_s=0.01)
    assert "too long to decode" in error.value.user_message.en


def test_an_extreme_aspect_ratio_is_refused_before_decoding():
    data = strip_png(1, 10_000)
    assert len(data) < 1000
    with pytest.raises(BadImage) as error:
        decode_image(data, CAP)
    assert "1×10000" in error.value.user_message.en and f"{MAX_ASPECT_RATIO} times" in error.value.user_message.en
    with pytest.raises(BadImage):
        decode_for_embedding(strip_png(2, 2 * MAX_ASPECT_RATIO + 2), CAP)


@pytest.mark.parametrize("size", [(5, 1000), (1000, 5), (40, 8000), (3000, 100)])
def test_thin_images_are_padded_for_embedding_so_no_processor_blows_them_up(size):
    img = Image.new("RGB", size, (0, 0, 200))
    for embedded in (shrink_for_embedding(img), decode_for_embedding(encode(img, "PNG"), CAP)):
        width, height = embedded.size
        assert max(width, height) <= EMBED_MAX_RATIO * min(width, height)
        assert max(width, height) <= EMBED_MAX_RATIO * images.EMBED_SHORT_SIDE
        assert embedded.getpixel((width // 2, height // 2)) == (0, 0, 200)  # the strip, centred
        corner = (0, 0)
        assert embedded.getpixel(corner) == (255, 255, 255)  # on white


def test_ordinary_shapes_are_not_padded():
    assert shrink_for_embedding(Image.new("RGB", (4000, 1000))).size == (1792, 448)
    assert shrink_for_embedding(Image.new("RGB", (300, 200))).size == (300, 200)


def test_big_jpegs_decode_at_a_reduced_scale(monkeypatch):
    data = encode(Image.linear_gradient("L").resize((6000, 4000)).convert("RGB"), "JPEG", quality=70)
    loaded: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def recording_load(self):
        result = load(self)
        loaded.append(self.size)
        return result

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    assert decode_image(data, CAP * 10).size == (COMMAND_MAX_SIDE, 1707)
    assert decode_for_embedding(data, CAP * 10).size == (672, 448)
    # libjpeg scaled the DCT (draft mode): no 24-megapixel bitmap was ever made.
    assert loaded and max(w * h for w, h in loaded) <= 3000 * 2000


def test_a_photo_within_telegrams_largest_side_is_not_resampled():
    img = Image.effect_noise((COMMAND_MAX_SIDE, 1200), 40).convert("RGB")
    decoded = decode_image(encode(img, "PNG"), CAP)
    assert decoded.tobytes() == img.tobytes()


def gray16(mode: str) -> Image.Image:
    """A 256×8 left-to-right gradient over 0..65535 in a 16-bit (or 32-bit) grayscale mode."""
    import numpy as np

    row = np.arange(256, dtype=np.uint32) * 65535 // 255
    dtype = {"I;16": "<u2", "I;16B": ">u2", "I": "<i4"}[mode]
    return Image.fromarray(np.tile(row, (8, 1)).astype(dtype))


@pytest.mark.parametrize(
    "data",
    [
        gray16_png((256, 8)),
        encode(gray16("I;16"), "TIFF"),
        encode(gray16("I;16B"), "TIFF"),
        encode(gray16("I"), "TIFF"),
    ],
    ids=["PNG I;16", "TIFF I;16", "TIFF I;16B", "TIFF I"],
)
def test_high_bit_depth_grayscale_is_scaled_not_clipped_to_white(data):
    img = decode_image(data, CAP)
    row = [img.getpixel((x, 4))[0] for x in range(0, 256, 32)]
    assert row == sorted(row) and row[0] <= 2 and abs(row[4] - 128) <= 2 and img.getpixel((255, 4)) == (255,) * 3


def test_float_images_are_scaled_too():
    img = Image.linear_gradient("L").convert("F").point(lambda v: v / 255)  # 0..1
    decoded = decode_image(encode(img, "TIFF"), CAP)
    assert decoded.getpixel((0, 0))[0] <= 2 and decoded.getpixel((0, 255))[0] >= 253


@pytest.mark.parametrize(
    "data",
    [
        trns_rgb_png((255, 0, 255)),
        encode(Image.new("L", (32, 32), 77).crop((0, 0, 32, 32)), "PNG", transparency=77),
        encode(Image.new("LA", (32, 32), (10, 0)), "PNG"),
        encode(Image.new("RGBA", (32, 32), (255, 0, 0, 0)), "PNG"),
        encode(
            Image.new("RGB", (32, 32), (9, 9, 9)).convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=0
        ),
        encode(Image.new("PA", (32, 32), (3, 0)).convert("RGBA"), "WEBP", lossless=True),
        encode(Image.new("RGBA", (32, 32), (0, 0, 255, 0)), "TIFF"),
    ],
    ids=["RGB tRNS", "L tRNS", "LA", "RGBA", "P", "WebP alpha", "TIFF alpha"],
)
def test_every_kind_of_transparency_is_flattened_onto_white(data):
    assert decode_image(data, CAP).getpixel((0, 0)) == (255, 255, 255)


def test_the_opaque_part_of_a_trns_image_keeps_its_colour():
    img = decode_image(trns_rgb_png((255, 0, 255)), CAP)
    assert (img.getpixel((0, 0)), img.getpixel((31, 31))) == ((255, 255, 255), (0, 128, 0))


def test_16_bit_grayscale_with_a_key_colour():
    img = Image.new("I;16", (16, 4))
    img.putdata([1234 if x < 8 else 40000 for _ in range(4) for x in range(16)])
    decoded = decode_image(encode(img, "PNG", transparency=1234), CAP)
    assert decoded.getpixel((0, 0)) == (255, 255, 255) and decoded.getpixel((15, 0)) == (156, 156, 156)


def test_heic_from_iphones_and_avif_decode():
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    for data in (heic(img), encode(img, "AVIF")):
        decoded = decode_image(data, CAP)
        assert decoded.size == (64, 48)
        r, g, b = decoded.getpixel((10, 10))
        assert r > 170 and g < 60 and b < 60


def test_heic_over_the_pixel_cap_is_refused_from_its_header():
    with pytest.raises(BadImage) as error:
        decode_image(heic(Image.new("RGB", (3000, 2000))), 5_000_000)
    assert "3000×2000" in error.value.user_message.en
