"""decode_image: the allow-list, the pixel cap and clear errors for broken files."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.errors import BadImage
from bot.imaging.decode import configure_pillow, decode_image

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
    r, g, b = img.getpixel((1, 1))
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
