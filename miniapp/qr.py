"""QR codes of URLs (a card's /v/<token> link, a community page for a gate poster).

Error correction level M (15 % of the code may be dirty or creased) and the standard 4-module quiet
zone; phone cameras read the result at the card's on-screen size. A URL that ends in a long run of
digits (a card's packed token, :mod:`miniapp.proofs.packed`) is written in two segments: the start
in byte mode, the digits in numeric mode (3.3 bits a digit instead of 8), so the code is smaller.
"""

from __future__ import annotations

import io
import re

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M

MAX_URL_CHARS = 2331  # byte-mode capacity of a version-40 code at level M
_MIN_NUMERIC_DIGITS = 24  # shorter runs of digits cost more as a segment of their own than they save
_TRAILING_DIGITS = re.compile(r"[0-9]{%d,}$" % _MIN_NUMERIC_DIGITS)


def segments(url: str) -> list[tuple[str, bytes]]:
    """The QR data segments of ``url``: (mode, bytes), a trailing run of digits in numeric mode.

    Parameters
    ----------
    url : str
        The text to encode.

    Returns
    -------
    list of (str, bytes)
        ``[("byte", start), ("numeric", digits)]``, or one byte segment when the URL does not end in
        at least 24 digits.

    Examples
    --------
    >>> segments("https://riskcard.example/v/" + "7" * 30)[1]
    ('numeric', b'777777777777777777777777777777')
    >>> segments("https://riskcard.example/c/12")
    [('byte', b'https://riskcard.example/c/12')]
    """
    match = _TRAILING_DIGITS.search(url)
    if match is None:
        return [("byte", url.encode("utf-8"))]
    head, digits = url[:match.start()], match.group()
    return ([("byte", head.encode("utf-8"))] if head else []) + [("numeric", digits.encode("ascii"))]


def _code(url: str, box_size: int) -> qrcode.QRCode:
    if not isinstance(url, str) or not url or len(url.encode("utf-8")) > MAX_URL_CHARS:
        raise ValueError(f"url must be 1 to {MAX_URL_CHARS} bytes of text")
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=4)
    modes = {"byte": qrcode.util.MODE_8BIT_BYTE, "numeric": qrcode.util.MODE_NUMBER}
    for mode, data in segments(url):
        code.add_data(qrcode.util.QRData(data, mode=modes[mode]))
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
