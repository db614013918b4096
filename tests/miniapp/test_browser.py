"""The mini-app in a real browser: Debian's Chromium driven by Playwright over a real HTTP server.

The app runs over the published fixture snapshot on 127.0.0.1 (a werkzeug server in a thread), and
headless Chromium (``/usr/bin/chromium``, never a downloaded browser) searches, opens a community,
goes through the whole itinerary-card flow (the one-time code read from the state store's outbox),
decodes the card's QR code from a screenshot with zxing-cpp and opens the verify link it carries.
The same flows run with JavaScript off. Every main page is weighed (HTML + CSS + JS + images,
uncompressed) against :data:`PAGE_BUDGET_BYTES` and checked by axe-core (``npm ci`` installs it from
package-lock.json) for serious or critical violations. Phone-size screenshots (390x844 CSS pixels,
device scale 2) are kept under ``test-artifacts/screenshots/``.

Without Chromium (or axe-core) these tests skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import pytest

from tests.browser_kit import PHONE, LiveServer
from tests.conftest import IN_CI
from tests.miniapp.snapshot_fixture import PHONES, TEST_KEY, publish_fixture
from tests.miniapp.codes import last_code as last_code_of

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# Every main page, with everything it loads (HTML, CSS, JS, images; uncompressed), stays under this
# budget; the card page's inline QR image (a data: URL of about 2-3 KB) is not counted.
PAGE_BUDGET_BYTES = 60 * 1024
AXE_BLOCKING = ("serious", "critical")
# Numbers the snapshot knows nothing of (a green card with no city), one per flow: each flow starts
# with no consent given, and the per-number limits of code requests are not shared between tests.
OTHER_PHONES = ["13600136000", "13500135000"]
# Pages weighed and checked for accessibility: (name, path).
MAIN_PAGES = [
    ("home", "/"),
    ("search", "/search?q=bbt"),
    ("community", "/community/1"),
    ("community-unknown", "/community/9"),
    ("city", "/city/420100"),
    ("same-trip", "/same-trip?date=2020-02-02&number=G1234"),
    ("methods", "/methods"),
    ("privacy", "/privacy"),
    ("card-start", "/card/"),
    ("not-found", "/community/999999"),
]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The real app over the published fixture snapshot; PUBLIC_URL is the live server, so QR links open."""
    from werkzeug.serving import make_server  # noqa: F401 - fail early if werkzeug's server is missing

    from miniapp.app import create_app
    from miniapp.proofs import generate_key

    tmp = tmp_path_factory.mktemp("browser")
    snapshots = publish_fixture(tmp / "snapshots")
    keys = tmp / "keys"
    keys.mkdir()
    generate_key(keys, not_before_s=int(time.time()) - 3 * 86400)  # old enough to have signed an expired card
    config = {
        "TESTING": True,
        "SECRET_KEY": "browser-test-secret-" + "y" * 32,
        "PSEUDONYM_KEY": TEST_KEY.hex(),
        "SNAPSHOT_DIR": str(snapshots),
        "STATE_URL": "sqlite:///" + str(tmp / "state.db"),
        "SIGNING_KEY_DIR": str(keys),
        "PUBLIC_URL": "http://placeholder.invalid",
        "SMS_BACKEND": "outbox",
        "DEMO": 1,
        "DEMO_OUTBOX": str(tmp / "outbox.jsonl"),
    }
    app = create_app(config)
    with LiveServer(app) as server:
        app.config["PUBLIC_URL"] = server.url
        yield server


@pytest.fixture
def page(browser, live):
    context = browser.new_context(base_url=live.url, locale="zh-CN", **PHONE)
    pg = context.new_page()
    yield pg
    context.close()


@pytest.fixture
def nojs_page(browser, live):
    context = browser.new_context(base_url=live.url, locale="zh-CN", java_script_enabled=False, **PHONE)
    pg = context.new_page()
    yield pg
    context.close()


def shot(pg, name: str) -> Path:
    """A full-page phone-size screenshot kept as a test artefact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    return path


def last_code(live) -> str:
    """The one-time code of the newest message in the demo outbox."""
    return last_code_of(live.app)


def decode_qr(png: bytes) -> str:
    import zxingcpp
    from PIL import Image

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(found) == 1, f"expected one QR code, found {len(found)}"
    return found[0].text


def card_flow(pg, live, phone: str, prefix: str | None = None, check=None) -> None:
    """Number -> code (from the outbox) -> consent -> the card page.

    Each step's page is kept as a screenshot named after ``prefix`` (none without one), and ``check()``
    runs on it.
    """
    check = check or (lambda: None)
    shot_if = (lambda step: shot(pg, f"{prefix}-{step}")) if prefix else (lambda step: None)
    pg.goto("/card/")
    shot_if("card-start")
    check()
    pg.fill("#number", phone)
    pg.click("button[type=submit]")
    pg.wait_for_url("**/card/verify")
    assert pg.inner_text("#masked") == phone[:3] + "****" + phone[-4:]
    shot_if("card-code")
    check()
    pg.fill("#code", last_code(live))
    pg.click("button[type=submit]")
    pg.wait_for_url("**/card/consent")
    shot_if("card-consent")
    check()
    pg.click("button[value=yes]")
    pg.wait_for_url("**/card/show")


# ---- search, suggestions, community, city, same trip ---------------------------------------------------
@pytest.mark.parametrize("q", ["百步亭", "baibuting", "bbt"])
def test_search_by_hanzi_pinyin_and_initials(page, q):
    page.goto("/")
    page.fill("#q", q)
    page.press("#q", "Enter")
    page.wait_for_url("**/search?q=*")
    first = page.locator("#results li a").first
    assert first.inner_text() == "百步亭花园"
    if q == "bbt":
        shot(page, "search-bbt")


def test_suggestions_appear_while_typing(page):
    page.goto("/")
    page.type("#q", "bbt", delay=30)
    page.locator("#suggestions option").nth(1).wait_for(state="attached")
    values = page.eval_on_selector_all("#suggestions option", "os => os.map(o => o.value)")
    assert values[:2] == ["百步亭花园", "百步亭安居苑"]


def test_community_page_shows_grade_chart_and_star(page):
    page.goto("/search?q=bbt")
    page.click("text=百步亭花园")
    page.wait_for_url("**/community/1")
    assert page.inner_text("h1") == "百步亭花园"
    assert page.inner_text(".grade") == "偏高"
    assert page.locator("#reasons li").count() == 2
    assert page.locator("svg polyline").count() >= 1 and page.locator("svg").first.is_visible()
    assert "所在城市有中高或偏高风险小区" in page.inner_text("main")
    shot(page, "community")
    page.goto("/city/420100")
    assert page.locator("svg circle").count() >= 4
    shot(page, "city")


def test_same_trip_query(page):
    page.goto("/same-trip")
    page.fill("#date", "2020-02-02")
    page.fill("#number", "g1234")
    page.click("button[type=submit]")
    page.wait_for_selector("#answer")
    answer = page.inner_text("#answer")
    assert "有确诊病例乘坐过" in answer and "G1234" in answer
    shot(page, "same-trip")
    page.fill("#date", "2020-02-02")
    page.fill("#number", "ZZ9999")
    page.click("button[type=submit]")
    page.wait_for_selector("#answer")
    assert "未发现" in page.inner_text("#answer")


def test_english_switch(page):
    page.goto("/")
    assert page.get_attribute("html", "lang") == "zh-CN"
    page.click("a[hreflang=en]")
    page.wait_for_url("**/?lang=en")
    assert page.get_attribute("html", "lang") == "en"
    assert "Check your community's risk grade" in page.inner_text("h1")
    page.goto("/community/1")  # the choice is remembered in a cookie
    assert page.inner_text(".grade") == "High" and "Why" in page.inner_text("main")
    shot(page, "community-en")
    page.click("a[hreflang=zh]")
    assert page.get_attribute("html", "lang") == "zh-CN"


# ---- the itinerary card, its QR code and the verify page ------------------------------------------------
def test_whole_card_flow_and_qr_verifies_as_genuine(page, live):
    card_flow(page, live, PHONES["companion"], "js")
    assert page.inner_text("#masked") == "138****8000"
    assert page.locator(".pill-orange").count() == 1
    cities = page.inner_text("#cities")
    assert "武汉" in cities and "★" in cities
    shot(page, "card")
    # the QR code as the browser drew it, read by a real decoder
    url = decode_qr(page.locator("#qr").screenshot())
    assert url.startswith(live.url + "/v/")
    page.goto(url)
    assert "verdict-genuine" in page.get_attribute("#verdict", "class")
    assert page.inner_text("#verdict") == "真实有效"
    assert page.inner_text("#masked") == "138****8000" and "武汉" in page.inner_text("#cities")
    shot(page, "verify-genuine")
    # a tampered token: one character of the signed payload changed
    from miniapp.proofs import pack_token, unpack_token

    token = unpack_token(url.split("/v/", 1)[1], live.app.extensions["riskcard"].keyring)
    head, payload, sig = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    response = page.goto("/v/" + pack_token(f"{head}.{flipped}.{sig}"))  # as a forger would print it
    verdict = page.get_attribute("#verdict", "class")
    assert "verdict-genuine" not in verdict and ("verdict-forged" in verdict or "verdict-malformed" in verdict)
    assert response.status in (200, 400) and "138****8000" not in page.inner_text("main")
    shot(page, "verify-forged")


def test_expired_and_wrong_key_tokens_on_the_verify_page(page, live, tmp_path):
    from miniapp.proofs import generate_key, load_signing_keys
    from miniapp.proofs import sign_card

    claims = {"window": ["2020-01-27", "2020-02-09"], "cities": [("武汉", True, "Wuhan")], "colour": "yellow",
              "masked": "139****9000"}
    old = sign_card(claims, live.app.extensions["riskcard"].keyring, ttl_s=3600, now=int(time.time()) - 2 * 86400)
    page.goto(f"/v/{old}")
    assert "verdict-expired" in page.get_attribute("#verdict", "class") and page.inner_text("#verdict") == "已过期"
    assert page.inner_text("#masked") == "139****9000"  # an expired card still says whose it was
    shot(page, "verify-expired")
    generate_key(tmp_path)
    foreign = sign_card(claims, load_signing_keys(tmp_path))
    page.goto(f"/v/{foreign}")
    assert "verdict-unknown_key" in page.get_attribute("#verdict", "class")
    assert page.locator("#masked").count() == 0


def test_wrong_code_is_refused_in_the_browser(page, live):
    page.goto("/card/")
    page.fill("#number", PHONES["green"])
    page.click("button[type=submit]")
    page.wait_for_url("**/card/verify")
    code = last_code(live)
    page.fill("#code", "000000" if code != "000000" else "111111")
    page.click("button[type=submit]")
    assert "验证码不正确" in page.inner_text("#error")
    shot(page, "card-wrong-code")


# ---- without JavaScript -----------------------------------------------------------------------------
def test_search_and_card_flow_without_javascript(nojs_page, live):
    pg = nojs_page
    pg.goto("/")
    assert not pg.locator("#chat").is_visible()  # the chat box needs JavaScript and stays hidden
    pg.fill("#q", "baibuting")
    pg.click("form[role=search] button")
    pg.wait_for_url("**/search?q=*")
    assert pg.locator("#results li a").first.inner_text() == "百步亭花园"
    shot(pg, "nojs-search")
    card_flow(pg, live, PHONES["traveller"], "nojs")
    assert pg.inner_text("#masked") == "139****9000" and pg.locator(".pill-yellow").count() == 1
    url = decode_qr(pg.locator("#qr").screenshot())
    pg.goto(url)
    assert pg.inner_text("#verdict") == "真实有效"
    pg.goto("/same-trip?date=2020-02-02&number=G1234")
    assert "有确诊病例乘坐过" in pg.inner_text("#answer")


# ---- the chat widget --------------------------------------------------------------------------------
def test_chat_widget_answers_help(page):
    page.goto("/")
    page.wait_for_selector("#chat", state="visible")
    page.fill("#chat-text", "帮助")
    with page.expect_response("**/chat/api") as answered:
        page.click("#chat-form button")
    assert answered.value.status == 200
    page.wait_for_selector("#chat-log .chat-bot")
    reply = page.inner_text("#chat-log .chat-bot")
    assert "风险" in reply and len(reply) > 20
    assert page.inner_text("#chat-log .chat-me").endswith("帮助")
    sent = json.loads(answered.value.request.post_data)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,128}", sent["session"]) and sent["text"] == "帮助"
    shot(page, "chat")


# ---- weight and accessibility -------------------------------------------------------------------------
def page_bytes(pg, path: str) -> dict:
    """Load ``path`` and add up the bytes of everything it fetched (data: URLs counted apart)."""
    responses = []

    def collect(resp) -> None:
        responses.append(resp)

    pg.on("response", collect)
    pg.goto(path)
    pg.wait_for_load_state("load")  # stylesheets, scripts and images are in by then
    pg.remove_listener("response", collect)
    sizes = {}
    for resp in responses:
        if 300 <= resp.status < 400:
            continue  # redirects carry no page content
        sizes[resp.url] = len(resp.body())
    html = pg.content()
    inline_images = sum(len(m) for m in re.findall(r'src="(data:image/[^"]+)"', html))
    total = sum(sizes.values())
    return {"total": total, "inline_images": inline_images, "counted": total - inline_images, "files": len(sizes)}


def test_pages_are_light(page, live):
    # every page weighed with its CSS and JS, as a first visit loads them: routing turns the cache off
    page.context.route("**/*", lambda route: route.continue_())
    weights = {name: page_bytes(page, path) for name, path in MAIN_PAGES}
    card_flow(page, live, OTHER_PHONES[0])
    weights["card"] = page_bytes(page, "/card/show")
    weights["verify"] = page_bytes(page, _verify_path(page))
    report = {k: v["counted"] for k, v in weights.items()}
    print("page weights (bytes):", json.dumps(weights, sort_keys=True))
    heavy = {k: v for k, v in report.items() if v >= PAGE_BUDGET_BYTES}
    assert not heavy, f"pages over {PAGE_BUDGET_BYTES} bytes: {heavy}"
    assert weights["card"]["inline_images"] > 500  # the QR image was there and set apart
    assert all(v["files"] >= 2 for k, v in weights.items() if k != "not-found")  # HTML and CSS at least


def _verify_path(pg) -> str:
    from urllib.parse import urlsplit

    return urlsplit(decode_qr(pg.locator("#qr").screenshot())).path


def axe_violations(pg) -> list[dict]:
    pg.add_script_tag(path=str(AXE_JS))
    result = pg.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in AXE_BLOCKING]


def test_accessibility_axe_core(browser, live):
    if not AXE_JS.exists():
        if IN_CI:
            pytest.fail("axe-core is not installed: `make` runs `npm ci` (package-lock.json)")
        pytest.skip("axe-core is not installed (npm ci)")
    # CSP forbids injected scripts; axe is a test tool, so this context only bypasses it.
    context = browser.new_context(base_url=live.url, bypass_csp=True, **PHONE)
    pg = context.new_page()
    try:
        found = {}
        pages = MAIN_PAGES + [("home-en", "/?lang=en"), ("community-en", "/community/1?lang=en")]
        for name, path in pages:
            pg.goto(path)
            found[name] = axe_violations(pg)
        card_flow(pg, live, OTHER_PHONES[1], check=lambda: found.setdefault("card-steps", []).extend(axe_violations(pg)))
        found["card"] = axe_violations(pg)
        pg.goto(_verify_path(pg))
        found["verify"] = axe_violations(pg)
        pg.goto("/v/not-a-token")
        found["verify-malformed"] = axe_violations(pg)
        bad = {k: v for k, v in found.items() if v}
        assert not bad, json.dumps(bad, ensure_ascii=False, indent=1)
        assert len(found) == len(pages) + 4
    finally:
        context.close()
