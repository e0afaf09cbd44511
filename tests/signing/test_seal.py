"""The generated official seal: round, red, transparent outside the ink, the name drawn on it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from qianshu.signing.seal import render_seal_png
from tests.signing.conftest import NOTO_TTC


def _seal(name: str, footer: str | None = "合同专用章") -> Image.Image:
    png = render_seal_png(name, font_path=NOTO_TTC, font_index=2, footer=footer)
    return Image.open(io.BytesIO(png)).convert("RGBA")


def _pixel(img: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = img.getpixel(xy)
    assert isinstance(value, tuple)
    return value


def _is_red(pixel: object) -> bool:
    assert isinstance(pixel, tuple)
    r, g, b, a = pixel
    return bool(a > 200 and r > 180 and g < 80 and b < 80)


def test_seal_is_a_red_ring_with_a_star_on_transparency() -> None:
    img = _seal("示例科技有限公司")

    assert img.size == (480, 480)
    assert _pixel(img, (5, 5))[3] == 0  # corners outside the ring are transparent
    assert _is_red(_pixel(img, (240, 240 - 30)))  # the star's upper arm, at the centre
    assert _is_red(_pixel(img, (240, 480 - 14)))  # the ring at the bottom
    assert _pixel(img, (240, 150))[3] == 0  # between the name and the star
    red = sum(1 for p in img.get_flattened_data() if _is_red(p))
    assert 0.08 < red / (480 * 480) < 0.40


def test_name_changes_the_ink_along_the_arc() -> None:
    a, b = _seal("示例科技有限公司"), _seal("另一家公司")
    upper_a = a.crop((60, 20, 420, 160)).getchannel("A").tobytes()
    upper_b = b.crop((60, 20, 420, 160)).getchannel("A").tobytes()
    assert upper_a != upper_b
    assert sum(upper_a) > 0


def test_footer_can_be_left_out() -> None:
    with_footer = _seal("示例科技有限公司").crop((140, 330, 340, 390)).getchannel("A").tobytes()
    without = _seal("示例科技有限公司", footer=None).crop((140, 330, 340, 390)).getchannel("A").tobytes()
    assert max(with_footer) > 0 and max(without) == 0


def test_long_names_fit_and_empty_names_fail() -> None:
    assert _seal("北京市海淀区某某某某信息技术股份有限公司第一分公司").size == (480, 480)
    with pytest.raises(ValueError, match="empty"):
        render_seal_png("  ", font_path=NOTO_TTC)
    with pytest.raises(ValueError, match="longer"):
        render_seal_png("名" * 41, font_path=NOTO_TTC)
