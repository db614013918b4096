"""The market page at phone size (390x844) in Chinese and English, in Debian's Chromium; the poster's QR
code decoded from a screenshot (zxing-cpp) names the market page, which the browser then opens."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from tests.browser_kit import PHONE, LiveServer
from tests.miniapp.crowd.kit import make_city, refresh

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
FRESH = int(time.time()) // 900 * 900


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from miniapp.app import create_app

    tmp = tmp_path_factory.mktemp("marketbrowser")
    _, paths, _ = make_city(tmp, now_s=FRESH, days=36, flat=True)
    refresh(paths, now_s=FRESH)
    app = create_app({"SECRET_KEY": "t" * 32, "PSEUDONYM_KEY": "00" * 16, "CROWD_DIR": str(paths["crowd"]),
                      "SNAPSHOT_DIR": str(tmp / "none"), "STATE_URL": "sqlite:///" + str(tmp / "state.db")})
    with LiveServer(app) as server:
        app.config["PUBLIC_URL"] = server.url
        yield server


@pytest.mark.parametrize("lang, level_text, rule_word", [("zh", "比平常挤", "中位数"), ("en", "busier than usual", "median")])
def test_market_page_on_a_phone(browser, live, lang, level_text, rule_word):
    context = browser.new_context(base_url=live.url, locale="zh-CN" if lang == "zh" else "en-US", **PHONE)
    pg = context.new_page()
    try:
        pg.goto(f"/market/3?lang={lang}")
        level = pg.locator("#level")
        assert level.is_visible() and level_text in level.inner_text()
        box = level.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 30
        assert rule_word in pg.locator("#rule").inner_text()
        assert pg.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        SHOTS.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(SHOTS / f"market-{lang}.png"), full_page=True)
        pg.goto(f"/markets?lang={lang}")
        links = pg.locator("#markets a")
        assert links.count() == 4
        assert all(links.nth(i).bounding_box()["height"] >= 44 for i in range(4))  # big enough to tap
    finally:
        context.close()


def test_poster_qr_decodes_to_the_market_page(browser, live):
    import zxingcpp
    from PIL import Image

    context = browser.new_context(base_url=live.url, locale="zh-CN", **PHONE)
    pg = context.new_page()
    try:
        pg.goto("/market/2/poster")
        png = pg.locator(".qr").screenshot()
        found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)
        assert [f.text for f in found] == [f"{live.url}/market/2"]
        pg.goto(found[0].text)
        assert pg.locator("#level").is_visible() and pg.locator("h1").inner_text() == "府前农贸市场"
    finally:
        context.close()
