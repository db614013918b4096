"""The one-time code a test number was sent, read where a demo user reads it: the demo outbox file
(the state store's message log holds codes masked only)."""

from __future__ import annotations

import re

from miniapp.sms_out import demo_outbox_path, read_demo_outbox


def last_code(app) -> str:
    """The code in the newest message of ``app``'s demo outbox (``DEMO=1``, ``DEMO_OUTBOX`` set)."""
    path = demo_outbox_path(app.config)
    assert path is not None, "the test app needs DEMO=1, SMS_BACKEND=outbox and DEMO_OUTBOX"
    return re.search(r"\b(\d{6})\b", read_demo_outbox(path, limit=1)[0]["body"]).group(1)
