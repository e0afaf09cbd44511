"""Round red official-seal images (公章) drawn from an organisation's name, with transparency.

The layout follows the usual shape of a Chinese enterprise seal: a red ring, a five-pointed star
in the centre, the organisation's name along the upper arc read clockwise, and a purpose line
(e.g. 合同专用章) straight across below the star. The PNG is RGBA so only the red ink shows over a
page. Any organisation can reuse it (`orgs/` draws its seal once and stores the PNG).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["SEAL_RED", "render_seal_png"]

SEAL_RED = (218, 28, 36, 255)
_MAX_NAME_CHARS = 40


def _font(path: Path, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size=size, index=index)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float) -> None:
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.382  # regular pentagram: inner/outer = 1/φ²
        angle = -math.pi / 2 + k * math.pi / 5
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    draw.polygon(points, fill=SEAL_RED)


def _glyph(ch: str, font: ImageFont.FreeTypeFont, squeeze: float, stroke: int) -> Image.Image:
    """Draw one character, narrowed horizontally like seal lettering, on a transparent tile."""
    left, top, right, bottom = font.getbbox(ch, stroke_width=stroke)
    size = int(font.size * 1.3)
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text(
        ((size - (right - left)) / 2 - left, (size - (bottom - top)) / 2 - top),
        ch,
        font=font,
        fill=SEAL_RED,
        stroke_width=stroke,
        stroke_fill=SEAL_RED,
    )
    return tile.resize((max(1, int(size * squeeze)), size), Image.Resampling.LANCZOS)


def render_seal_png(
    org_name: str,
    *,
    font_path: Path,
    font_index: int = 0,
    footer: str | None = "合同专用章",
    size_px: int = 480,
) -> bytes:
    """Draw the seal of `org_name` and return it as an RGBA PNG of `size_px` square pixels."""
    name = "".join(org_name.split())
    if not name:
        raise ValueError("the organisation name is empty")
    if len(name) > _MAX_NAME_CHARS:
        raise ValueError(f"the organisation name is longer than {_MAX_NAME_CHARS} characters")
    scale = 4  # draw large, then downsample for smooth edges
    size = size_px * scale
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    c = size / 2
    ring = size * 0.035
    outer = size / 2 - ring
    draw.ellipse(
        (c - outer - ring / 2, c - outer - ring / 2, c + outer + ring / 2, c + outer + ring / 2),
        outline=SEAL_RED,
        width=int(ring),
    )
    _star(draw, c, c, size * 0.15)

    # Name along the upper arc, clockwise, each character upright relative to the ring.
    n = len(name)
    span = min(math.radians(250), math.radians(24) * n + math.radians(10))
    step = span / n
    text_radius = outer - ring * 1.5  # a clear band of paper between the ring and the lettering
    font_px = int(min(size * 0.125, 2 * text_radius * math.sin(step / 2) * 1.05))
    text_radius -= font_px * 0.6
    font = _font(font_path, font_index, font_px)
    stroke = max(1, font_px // 28)
    for k, ch in enumerate(name):
        theta = -span / 2 + step * (k + 0.5)  # angle from 12 o'clock, clockwise
        tile = _glyph(ch, font, 0.78, stroke).rotate(
            -math.degrees(theta), resample=Image.Resampling.BICUBIC, expand=True
        )
        x = c + text_radius * math.sin(theta) - tile.width / 2
        y = c - text_radius * math.cos(theta) - tile.height / 2
        img.alpha_composite(tile, (int(x), int(y)))

    if footer:
        footer = footer.strip()[:12]
        foot_px = int(min(size * 0.08, size * 0.5 / max(1, len(footer)) / 0.85))
        foot_font = _font(font_path, font_index, foot_px)
        x = c - sum(_glyph(ch, foot_font, 0.85, 1).width for ch in footer) / 2
        for ch in footer:
            tile = _glyph(ch, foot_font, 0.85, max(1, foot_px // 30))
            img.alpha_composite(tile, (int(x), int(c + size * 0.25 - tile.height / 2)))
            x += tile.width

    img = img.resize((size_px, size_px), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
