"""Issue 17, the card and the verify page in a real browser (Debian's Chromium at 390x844, DPR 2).

Before the fix:

- the QR code sat below the first screen (under the details; on the orange card under the companion
  notice too): zxing found no QR code in a screenshot of the first screen of any colour;
- the card had no clock and nothing moved, so a screenshot could pass for it;
- the verify page's EXPIRED banner had the yellow card's colour (#8a6100), REVOKED the colour of
  FORGED, and a genuine card without records said 真实有效 on green, like an all clear.

The app runs over the fixture snapshot on 127.0.0.1 (the LiveServer of tests/miniapp/test_browser.py).
QR codes are read with zxing-cpp restricted to QR codes: a QR code's modules can also read as a short
ITF bar code (5 of 1,200 rendered cards did, measured), which a search of every format would count.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from miniapp.proofs import generate_key, issue_card, sign_card, token_from_text, verify_token
from miniapp.state import StateUnavailable
from tests.miniapp.codes import last_code
from tests.miniapp.snapshot_fixture import PHONES, TEST_KEY, publish_fixture
from tests.browser_kit import PHONE, LiveServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
FIRST_SCREEN_PX = PHONE["viewport"]["height"]
YELLOW_CARD_RGB = "rgb(138, 97, 0)"  # .pill-yellow: the yellow card's colour
COLOURS = {"green": PHONES["green"], "yellow": PHONES["traveller"], "orange": PHONES["companion"]}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The real app over the published fixture snapshot; PUBLIC_URL is the live server."""
    from miniapp.app import create_app

    tmp = tmp_path_factory.mktemp("trust-browser")
    keys = tmp / "keys"
    keys.mkdir()
    generate_key(keys, not_before_s=int(time.time()) - 3 * 86400)  # old enough to sign an expired card
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "trust-browser-secret-" + "z" * 32,
        "PSEUDONYM_KEY": TEST_KEY.hex(),
        "SNAPSHOT_DIR": str(publish_fixture(tmp / "snapshots")),
        "STATE_URL": "sqlite:///" + str(tmp / "state.db"),
        "SIGNING_KEY_DIR": str(keys),
        "PUBLIC_URL": "http://placeholder.invalid",
        "SMS_BACKEND": "outbox",
        "DEMO": 1,
        "DEMO_OUTBOX": str(tmp / "outbox.jsonl"),
    })
    with LiveServer(app) as server:
        app.config["PUBLIC_URL"] = server.url
        yield server


def _context(browser, live, **extra):
    return browser.new_context(base_url=live.url, locale="zh-CN", **{**PHONE, **extra})


def _shot(pg, name: str) -> bytes:
    """A screenshot of the first screen only (the viewport, not the full page), kept as an artefact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = pg.screenshot(full_page=False)
    (SHOTS / f"trust-{name}.png").write_bytes(png)
    return png


def _qr_texts(png: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)]


def _one_page_flow(pg, live, phone: str) -> None:
    """Number + consent box + send on the start page, then the code: the card."""
    pg.goto("/card/")
    pg.fill("#number", phone)
    pg.check("#consent")
    pg.click("#send-code")
    pg.wait_for_url("**/card/verify")
    pg.fill("#code", last_code(live.app))
    pg.click("button[type=submit]")
    pg.wait_for_url("**/card/show")


def _bottom(pg, selector: str) -> float:
    box = pg.locator(selector).bounding_box()
    assert box is not None, selector
    return box["y"] + box["height"]


# -- the QR code on the first screen --------------------------------------------------------------------
@pytest.mark.parametrize("colour", list(COLOURS))
def test_qr_code_is_read_from_the_first_screen(browser, live, colour):
    context = _context(browser, live)
    pg = context.new_page()
    try:
        _one_page_flow(pg, live, COLOURS[colour])
        assert pg.locator(f".pill-{colour}").count() == 1
        pg.evaluate("window.scrollTo(0, 0)")
        texts = _qr_texts(_shot(pg, f"card-first-screen-{colour}"))
        assert len(texts) == 1, f"{len(texts)} QR codes on the first screen of the {colour} card"
        assert texts[0].startswith(live.url + "/v/")
        v = verify_token(token_from_text(texts[0]), live.app.extensions["riskcard"].keyring)
        assert v.status == "genuine" and v.claims["colour"] == colour
        assert _bottom(pg, "#qr") <= FIRST_SCREEN_PX and _bottom(pg, "#clock") <= FIRST_SCREEN_PX
        if colour == "orange":  # the companion notice is on the first screen as well
            assert _bottom(pg, "#companion") <= FIRST_SCREEN_PX
    finally:
        context.close()


# -- the live clock and the animation -------------------------------------------------------------------
def _clock_ticks(pg) -> str:
    """Wait (at most 5 s) until the clock's text changes; return the new text."""
    first = pg.inner_text("#clock")
    pg.wait_for_function("t => document.getElementById('clock').textContent !== t", arg=first, timeout=5000)
    second = pg.inner_text("#clock")
    assert second != first
    return second


def _animation(pg) -> str:
    return pg.eval_on_selector(".live-dot", "el => getComputedStyle(el).animationName")


def test_clock_ticks_and_the_card_moves(browser, live):
    context = _context(browser, live)
    pg = context.new_page()
    try:
        _one_page_flow(pg, live, PHONES["possible"])
        text = _clock_ticks(pg)
        assert len(text) == len("2020-01-01 00:00:00") and text[-3] == ":"
        assert _animation(pg) not in ("", "none")
    finally:
        context.close()


def test_reduced_motion_keeps_the_clock_but_stops_the_animation(browser, live):
    context = _context(browser, live, reduced_motion="reduce")
    pg = context.new_page()
    try:
        _one_page_flow(pg, live, "13600136000")  # a number without records: a card all the same
        _clock_ticks(pg)
        assert _animation(pg) == "none"
    finally:
        context.close()


def test_one_page_flow_without_javascript(browser, live):
    context = _context(browser, live, java_script_enabled=False)
    pg = context.new_page()
    try:
        _one_page_flow(pg, live, "13500135000")
        assert pg.locator(".pill-no_records").count() == 1 and pg.locator("#clock").count() == 1
    finally:
        context.close()


# -- the verify page: six verdicts, six words, six colours -----------------------------------------------
def test_verify_page_verdicts_are_distinct_in_words_and_colour(browser, live, monkeypatch):
    services = live.app.extensions["riskcard"]
    ring, state = services.keyring, services.state
    claims = {"window": ["2020-01-27", "2020-02-09"], "cities": [("武汉", True, "Wuhan")], "colour": "yellow",
              "masked": "139****9000"}
    genuine = sign_card(claims, ring)
    expired = sign_card(claims, ring, ttl_s=3600, now=int(time.time()) - 2 * 86400)
    head, payload, sig = genuine.split(".")
    forged = f"{head}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{sig}"
    revoked = issue_card(state, "68ba9da759ce5549", claims, ring)
    state.revoke_proof(verify_token(revoked, ring).claims["jti"])
    no_records = sign_card({**claims, "cities": [], "colour": "no_records"}, ring)
    unchecked = sign_card(claims, ring)
    context = _context(browser, live)
    pg = context.new_page()
    seen = {}
    try:
        for name, token in [("genuine", genuine), ("expired", expired), ("forged", forged), ("revoked", revoked),
                            ("no_records", no_records)]:
            pg.goto(f"/v/{token}")
            seen[name] = _verdict(pg)
            _shot(pg, f"verify-{name}")
            if name == "genuine":
                assert "★" in pg.inner_text("#star-meaning") and "后4位" in pg.inner_text("#how-to-compare")

        def down(*args, **kwargs):
            raise StateUnavailable("down")

        monkeypatch.setattr(state, "proof_revoked", down)
        response = pg.goto(f"/v/{unchecked}")
        assert response.status == 503
        seen["revocation_unavailable"] = _verdict(pg)
        _shot(pg, "verify-revocation_unavailable")
    finally:
        context.close()
    texts = {name: text for name, (text, _) in seen.items()}
    backgrounds = {name: bg for name, (_, bg) in seen.items()}
    assert len(set(texts.values())) == 6, texts
    assert len(set(backgrounds.values())) == 6, backgrounds
    assert backgrounds["expired"] != YELLOW_CARD_RGB, backgrounds
    assert texts["genuine"] == "真实有效" and "无行程记录" in texts["no_records"]


def _verdict(pg) -> tuple[str, str]:
    return (pg.inner_text("#verdict").strip(),
            pg.eval_on_selector("#verdict", "el => getComputedStyle(el).backgroundColor"))
