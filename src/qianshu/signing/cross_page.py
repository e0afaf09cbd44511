"""The cross-page seal (骑缝章): a seal image cut in equal vertical slices along every page's edge.

With N pages the seal image is cut into N strips of equal width; strip i is drawn at the right
edge of page i, vertically centred, so that the pages fanned out put the seal back together.

The strips are extra widgets of the *same* signature field, added in the same incremental update
as the signature (see `widgets`): page content is never touched, so the signature's own byte range
covers the strips and an earlier signature's modification analysis sees only form filling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.stamp import StaticStampStyle

from qianshu.signing.errors import PlacementInvalid
from qianshu.signing.images import load_png_rgba
from qianshu.signing.widgets import ExtraWidget, page_box, page_count

__all__ = ["MIN_SLICE_POINTS", "CrossPageSeal", "slice_boxes", "slice_images", "slice_widgets"]

MIN_SLICE_POINTS = 2.0  # below this a strip is no longer a recognisable part of the seal
_MAX_SIDE = 360  # pixels of the whole seal, as for the seal in the signature field
_OPACITY = 0.92


@dataclass(frozen=True)
class CrossPageSeal:
    """The seal image to cut and the seal's diameter (points) on the page."""

    image_png: bytes
    size: float


def slice_images(png: bytes, count: int) -> list[Image.Image]:
    """Return the seal image cut into `count` vertical strips of equal width, left to right."""
    if count < 1:
        raise ValueError("count must be at least 1")
    image = load_png_rgba(png)
    image.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.Resampling.LANCZOS)
    strip = max(1, math.ceil(image.width / count))
    image = image.resize((strip * count, image.height), Image.Resampling.LANCZOS)  # a few pixels at most
    return [image.crop((i * strip, 0, (i + 1) * strip, image.height)) for i in range(count)]


def slice_boxes(pages: list[tuple[float, float, float, float]], size: float) -> list[tuple[float, float, float, float]]:
    """Return strip i's rectangle on page i: flush with the right edge, vertically centred."""
    count = len(pages)
    if count < 2:
        raise PlacementInvalid("骑缝章需要至少两页的文档", detail_en="A cross-page seal needs at least two pages")
    width = size / count
    if width < MIN_SLICE_POINTS:
        raise PlacementInvalid(
            f"文档页数过多（{count} 页），无法加盖骑缝章",
            detail_en=f"The document has too many pages ({count}) for a cross-page seal",
        )
    boxes = []
    for x1, y1, x2, y2 in pages:
        if x2 - x1 < width or y2 - y1 < size:
            raise PlacementInvalid("页面太小，放不下骑缝章", detail_en="A page is too small for the cross-page seal")
        middle = (y1 + y2) / 2
        boxes.append((x2 - width, middle - size / 2, x2, middle + size / 2))
    return boxes


def _strip_style(strip: Image.Image) -> StaticStampStyle:
    return StaticStampStyle(
        background=PdfImage(strip),
        background_opacity=_OPACITY,
        background_layout=SimpleBoxLayoutRule(
            x_align=AxisAlignment.ALIGN_MID,
            y_align=AxisAlignment.ALIGN_MID,
            margins=Margins(left=0, right=0, top=0, bottom=0),
            inner_content_scaling=InnerScaling.STRETCH_TO_FIT,
        ),
        border_width=0,
    )


def slice_widgets(writer: IncrementalPdfFileWriter, seal: CrossPageSeal) -> list[ExtraWidget]:
    """Return the strips as extra widgets of the signature field, strip i on page i."""
    count = page_count(writer)
    try:
        pages = [writer.find_page_for_modification(i)[0] for i in range(count)]  # type: ignore[no-untyped-call]  # untyped
    except (PdfError, KeyError, AssertionError) as exc:
        raise PlacementInvalid("无法读取文档页面", detail_en="The pages cannot be read") from exc
    boxes = slice_boxes([page_box(ref) for ref in pages], seal.size)
    strips = slice_images(seal.image_png, count)
    return [
        ExtraWidget(page=i, box=box, style=_strip_style(strip))
        for i, (box, strip) in enumerate(zip(boxes, strips, strict=True))
    ]
