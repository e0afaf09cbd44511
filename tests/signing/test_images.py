"""Handwriting images: transparent background, cropped to the ink; bad images refused clearly."""

from __future__ import annotations

import io
import math

import pytest
from PIL import Image, ImageDraw

from qianshu.signing.errors import AppearanceImageInvalid
from qianshu.signing.images import load_png_rgba, prepare_handwriting_png


def handwriting_png(*, transparent: bool = False, size: tuple[int, int] = (900, 400)) -> bytes:
    """Draw a pen-like stroke (a cursive loop) on white paper or on transparency."""
    img = Image.new("RGBA", size, (0, 0, 0, 0) if transparent else (255, 255, 255, 255))
    draw = ImageDraw.Draw(img)
    points = [(150 + 600 * t, 200 + 80 * math.sin(12 * t) - 40 * t) for t in (i / 200 for i in range(201))]
    draw.line(points, fill=(20, 20, 30, 255), width=9, joint="curve")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_white_paper_becomes_transparent_and_is_cropped() -> None:
    prepared = load_png_rgba(prepare_handwriting_png(handwriting_png()))

    assert prepared.width < 900 and prepared.height < 400  # cropped to the ink plus a margin
    alpha = prepared.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0  # paper is gone
    assert alpha.getextrema()[1] == 255  # ink is opaque


def test_transparent_input_keeps_its_alpha() -> None:
    prepared = load_png_rgba(prepare_handwriting_png(handwriting_png(transparent=True)))
    assert prepared.getchannel("A").getpixel((0, 0)) == 0


def test_wide_handwriting_is_scaled_down() -> None:
    prepared = load_png_rgba(prepare_handwriting_png(handwriting_png(size=(3000, 400))))
    assert prepared.width <= 1200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a not a png", "PNG"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "decoded"),
    ],
)
def test_bad_images_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(AppearanceImageInvalid, match=message):
        prepare_handwriting_png(data)


def test_blank_and_oversized_images_are_refused() -> None:
    blank = io.BytesIO()
    Image.new("RGB", (200, 100), "white").save(blank, format="PNG")
    with pytest.raises(AppearanceImageInvalid, match="blank"):
        prepare_handwriting_png(blank.getvalue())
    huge = io.BytesIO()
    Image.new("L", (5000, 10), 255).save(huge, format="PNG")
    with pytest.raises(AppearanceImageInvalid, match="too large"):
        prepare_handwriting_png(huge.getvalue())
