"""Reading a page's QR code with a real decoder (zxing-cpp), as a phone camera would."""

from __future__ import annotations

import base64
import io
import re


def qr_url(html: str) -> str:
    """The text of the one QR code (a PNG data URL) in ``html``."""
    import zxingcpp
    from PIL import Image

    data = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(data))), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1
    return found[0].text
