"""QR codes of signing links (扫码签): scan on a phone what a desktop shows (ISO/IEC 18004)."""

from __future__ import annotations

import base64

import qrcode
import qrcode.image.svg

__all__ = ["qr_data_url"]


def qr_data_url(text: str) -> str:
    """Return `text` as a QR code in an SVG `data:` URL (error correction M, 4-module quiet zone)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, box_size=10)
    code.add_data(text)
    code.make(fit=True)
    svg = code.make_image(image_factory=qrcode.image.svg.SvgPathFillImage).to_string(encoding="unicode")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
