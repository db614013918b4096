"""QR codes of URLs (a card's /v/<token> link, a community page for a gate poster).

Error correction level M (15 % of the code may be dirty or creased) and the standard 4-module quiet
zone; phone cameras read the result at the card's on-screen size.
"""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M

MAX_URL_CHARS = 2331  # byte-mode capacity of a version-40 code at level M


def _code(url: str, box_size: int) -> qrcode.QRCode:
    if not isinstance(url, str) or not url or len(url.encode("utf-8")) > MAX_URL_CHARS:
        raise ValueError(f"url must be 1 to {MAX_URL_CHARS} bytes of text")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    code.add_data(url.encode("utf-8"))
    code.make(fit=True)
    return code


def qr_png(url: str, *, box_size: int = 6) -> bytes:
    """PNG image (black on white) of ``url``.

    Examples
    --------
    >>> qr_png("https://riskcard.example/v/a.b.c")[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    image = _code(url, box_size).make_image(fill_color="black", back_color="white")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def qr_svg(url: str, *, box_size: int = 10) -> str:
    """SVG document (one path, scalable, prints sharply on a poster) of ``url``.

    Examples
    --------
    >>> svg = qr_svg("https://riskcard.example/c/1")
    >>> svg.startswith("<svg") and "<path" in svg
    True
    """
    image = _code(url, box_size).make_image(image_factory=qrcode.image.svg.SvgPathFillImage)
    return image.to_string(encoding="unicode")
