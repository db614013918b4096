"""Issue 17, the card and the verify page tell what they know, plainly.

Before: a companion's card did not say when or for how long; "更新于 <build wall clock>" sat beside
the window with no word on which time is which and nothing on the card moved; the expired verdict
had the yellow card's colour, the star was not explained and the employer got no instruction.
"""

from __future__ import annotations

import datetime as dt
import re

from miniapp.cards import OBSERVE_DAYS_AFTER_EXPOSURE
from tests.miniapp.codes import last_code
from tests.miniapp.qr_read import qr_url
from tests.miniapp.snapshot_fixture import PHONES


def _card(client, app, phone: str) -> str:
    html = client.get("/card/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    assert client.post("/card/code", data={"number": phone, "csrf_token": token}).status_code == 302
    assert client.post("/card/verify", data={"code": last_code(app), "csrf_token": token}).status_code == 302
    assert client.post("/card/consent", data={"agree": "yes", "csrf_token": token}).status_code == 302
    return client.get("/card/show").get_data(as_text=True)


def _static(client, path: str) -> str:
    r = client.get(path)
    try:
        return r.get_data(as_text=True)
    finally:
        r.close()


def _text(html: str, element_id: str) -> str:
    m = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", m.group(2)).split())


def test_a_companion_is_told_when_how_long_and_until_when(client, app):
    html = _card(client, app, PHONES["companion"])
    details = _text(html, "exposure-details")
    date = re.search(r"(\d{4}-\d{2}-\d{2})", details).group(1)
    assert "分钟" in details and re.search(r"约 \d+ 分钟", details)
    until = re.findall(r"\d{4}-\d{2}-\d{2}", details)[1]
    assert dt.date.fromisoformat(until) - dt.date.fromisoformat(date) == dt.timedelta(days=OBSERVE_DAYS_AFTER_EXPOSURE)


def test_every_time_on_the_card_says_what_it_is(client, app):
    html = _card(client, app, PHONES["traveller"])
    assert "更新于" not in html
    for element_id in ("window", "as-of", "built", "issued", "valid-until", "clock"):
        assert _text(html, element_id), element_id
    assert "行程时段" in html and "数据截至" in html and "本卡签发于" in html and "有效至" in html
    assert 'src="/static/card.js"' in html  # the clock ticks (a screenshot does not)
    js = _static(client, "/static/card.js")
    assert "setInterval" in js and "clock" in js


def test_the_verify_page_explains_the_star_and_how_to_compare(client, app):
    html = _card(client, app, PHONES["traveller"])  # a starred city (Wuhan)
    page = client.get(qr_url(html).replace("https://riskcard.test", "")).get_data(as_text=True)
    assert "前3位和后4位" in _text(page, "how-to-compare") and "★ 表示" in _text(page, "star-meaning")


def test_expired_is_not_the_yellow_cards_colour(client):
    css = _static(client, "/static/site.css")
    expired = re.findall(r"\.verdict-expired \{ background:(#[0-9a-f]+); \}", css)[-1]
    yellow = re.search(r"\.pill-yellow \{ background:(#[0-9a-f]+); \}", css).group(1)
    assert expired != yellow
