"""One walk per person, in Debian's Chromium at a phone's 390x844 viewport, over a real HTTP server.

- the resident: searches their community by 汉字, pinyin and initials, reads its grade with why, a
  trend of 14 past days or more, and the forecast;
- the card holder: proves the number and gets the card; its clock moves; the QR code is read by
  zxing from a first-screen screenshot (what the holder shows) when the card fits there;
- the employer: scans it and sees GENUINE; a forged and a no-records card read differently in
  words and in colour;
- the texter: asks the chat in Chinese and English and gets answers with working links.

Screenshots go to test-artifacts/e2e/; ``scripts/update_screenshots.py`` copies them to
docs/screenshots/ (an explicit step, like any golden file).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from tests.browser_kit import PHONE, LiveServer
from tests.miniapp.codes import last_code
from tests.miniapp.snapshot_fixture import PHONES, TEST_KEY, publish_fixture

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
UNKNOWN = "13600136000"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from miniapp.app import create_app
    from miniapp.proofs import generate_key

    tmp = tmp_path_factory.mktemp("e2e")
    (tmp / "keys").mkdir()
    generate_key(tmp / "keys")
    app = create_app({
        "TESTING": True, "SECRET_KEY": "e2e-secret-" + "z" * 32, "PSEUDONYM_KEY": TEST_KEY.hex(),
        "SNAPSHOT_DIR": str(publish_fixture(tmp / "snapshots")), "STATE_URL": "sqlite:///" + str(tmp / "state.db"),
        "SIGNING_KEY_DIR": str(tmp / "keys"), "PUBLIC_URL": "http://placeholder.invalid", "SMS_BACKEND": "outbox",
        "DEMO": 1, "DEMO_OUTBOX": str(tmp / "outbox.jsonl"),
    })
    with LiveServer(app) as server:
        app.config["PUBLIC_URL"] = server.url
        yield server


@pytest.fixture
def page(browser, live):
    context = browser.new_context(base_url=live.url, locale="zh-CN", **{**PHONE, "device_scale_factor": 1})
    pg = context.new_page()
    yield pg
    context.close()


def shot(pg, name: str, full_page: bool = False) -> bytes:
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = pg.screenshot(full_page=full_page)
    (SHOTS / f"{name}.png").write_bytes(png)
    return png


def decode_qr(png: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)]


def background(pg, selector: str) -> str:
    return pg.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


def get_card(pg, live, phone: str) -> None:
    pg.goto("/card/")
    pg.fill("input[name=number]", phone)
    pg.click("form button[type=submit]")
    pg.wait_for_url("**/card/verify")
    pg.fill("input[name=code]", last_code(live.app))
    pg.click("form button[type=submit]")
    pg.wait_for_url("**/card/consent")
    pg.click("button[value=yes]")
    pg.wait_for_url("**/card/show")


def test_resident(page):
    for q in ("百步亭", "baibuting", "bbt"):
        page.goto("/")
        page.fill("#q", q)
        page.press("#q", "Enter")
        page.wait_for_url("**/search?q=*")
        assert page.locator("#results li a").first.inner_text() == "百步亭花园"
    page.click("#results li a >> nth=0")
    page.wait_for_url("**/community/*")
    assert page.inner_text(".grade") in ("轻微", "偏低", "中低", "中高", "偏高")
    assert page.locator("#reasons li").count() >= 1
    points = page.eval_on_selector_all("svg polyline", "ls => ls.map(l => l.getAttribute('points').trim().split(/\\s+/).length)")
    assert points and max(points) >= 14  # the trend has two weeks of past days or more
    assert "预测" in page.inner_text("main")
    shot(page, "resident-community", full_page=True)


def test_card_holder(page, live):
    get_card(page, live, PHONES["traveller"])
    first = page.inner_text("#clock")
    page.wait_for_function("t => document.getElementById('clock').textContent !== t", arg=first, timeout=5000)
    assert page.inner_text("#clock") != first  # the card is alive: a screenshot does not tick
    assert "行程时段" in page.inner_text("#times") and "本卡签发于" in page.inner_text("#times")
    png = shot(page, "card-holder-first-screen")
    urls = decode_qr(png) or decode_qr(page.locator("#qr").screenshot())  # first screen, else the QR itself
    assert urls and urls[0].startswith(live.url + "/v/")
    shot(page, "card-holder", full_page=True)


def test_employer(page, live):
    get_card(page, live, PHONES["green"])
    url = decode_qr(page.locator("#qr").screenshot())[0]
    page.goto(url)
    genuine = (page.inner_text("#verdict"), background(page, "#verdict"))
    assert genuine[0] == "真实有效" and "前3位和后4位" in page.inner_text("#how-to-compare")
    shot(page, "employer-genuine")
    from miniapp.proofs import pack_token, unpack_token

    jws = unpack_token(url.split("/v/", 1)[1], live.app.extensions["riskcard"].keyring)
    head, payload, sig = jws.split(".")
    page.goto("/v/" + pack_token(f"{head}.{payload[:-2] + ('A' if payload[-2] != 'A' else 'B') + payload[-1]}.{sig}"))
    forged = (page.inner_text("#verdict"), background(page, "#verdict"))
    shot(page, "employer-forged")
    assert forged[0] != genuine[0] and forged[1] != genuine[1]
    page.context.clear_cookies()
    get_card(page, live, UNKNOWN)
    page.goto(decode_qr(page.locator("#qr").screenshot())[0])
    assert "这不是绿色行程卡" in page.inner_text("main")
    assert page.locator(".pill-green").count() == 0 and page.locator(".pill-no_records").count() == 1
    shot(page, "employer-no-records")


def test_texter(page):
    page.goto("/")
    page.wait_for_selector("#chat", state="visible")
    for text, expect in (("帮助", "行程"), ("help", "TRIP"), ("风险 bbt", "百步亭"), ("1", "百步亭花园")):
        before = page.locator("#chat-log .chat-bot").count()
        page.fill("#chat-text", text)
        page.click("#chat-form button")
        page.wait_for_function("n => document.querySelectorAll('#chat-log .chat-bot').length > n", arg=before,
                               timeout=10000)
        assert expect in page.locator("#chat-log .chat-bot").nth(before).inner_text()
    links = page.eval_on_selector_all("#chat-log .chat-bot a", "as => as.map(a => a.href)")
    assert links and all(re.match(r"https?://", h) for h in links)  # the answers' links are links
    shot(page, "texter-chat", full_page=True)
