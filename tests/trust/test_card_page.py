"""Issue 17, the card: one page to the card, every time on it labelled, a companion told when and how long.

Before the fix (through ``app.test_client()`` over the fixture snapshot): the number, the code and
the consent took three pages (a correct code led to ``/card/consent``; the start page had no consent
box); the card said "更新于 <the build's wall clock>" beside the window of stays and not when the
card was issued or until when it is valid; a companion's card gave no date, no minutes and no date
until which to watch their health.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from forecast.phones import uid_to_pseudonym
from miniapp.cards import OBSERVE_DAYS_AFTER_EXPOSURE, exposure_details
from miniapp.proofs import token_from_text, verify_token
from tests.miniapp.codes import last_code
from tests.miniapp.qr_read import qr_url
from tests.miniapp.snapshot_fixture import PHONES, UIDS

TZ = ZoneInfo("Asia/Shanghai")


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _element(html: str, element_id: str) -> str:
    """The text of the element with ``element_id`` (tags dropped, spaces collapsed)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no element id={element_id}"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(2)).split())


def _send_code(client, phone: str, *, agree: bool) -> str:
    """The start page's one form: number (+ the consent box) -> a code is sent. Returns the CSRF token."""
    csrf = _csrf(client.get("/card/").get_data(as_text=True))
    form = {"number": phone, "csrf_token": csrf, **({"consent": "yes"} if agree else {})}
    r = client.post("/card/code", data=form)
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/verify")
    return csrf


def _one_page_card(client, app, phone: str) -> str:
    """Number + ticked box, then the code: straight to the card (no consent page)."""
    csrf = _send_code(client, phone, agree=True)
    r = client.post("/card/verify", data={"code": last_code(app), "csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/show"), r.headers.get("Location")
    r = client.get("/card/show")
    assert r.status_code == 200
    return r.get_data(as_text=True)


def _events(app, event: str) -> list[dict]:
    return [e for e in app.extensions["riskcard"].state.audit_log(limit=500) if e["event"] == event]


# -- one page: number, consent box, send code ----------------------------------------------------------
def test_start_page_has_number_consent_box_and_send_button_in_one_form(client):
    html = client.get("/card/").get_data(as_text=True)
    form = re.search(r'<form method="post" action="/card/code">(.*?)</form>', html, re.S).group(1)
    assert 'id="number"' in form and 'name="csrf_token"' in form and "<button" in form
    box = re.search(r'<input[^>]*name="consent"[^>]*>', form).group(0)
    assert 'type="checkbox"' in box and 'value="yes"' in box and "checked" not in box  # never ticked for them
    text = _element(html, "consent-text")
    assert "同意" in text and "审计" in text and "14" in text


def test_ticked_box_goes_from_the_code_straight_to_the_card_and_consent_is_audited(client, app):
    day_before = dt.datetime.now(TZ).date()
    html = _one_page_card(client, app, PHONES["traveller"])
    assert "139****9000" in html and "pill-yellow" in html
    pseudonym = uid_to_pseudonym(UIDS["traveller"])
    assert app.extensions["riskcard"].state.has_consent(pseudonym, "itinerary")
    [consent] = _events(app, "consent")  # audited as the consent page audits it
    assert consent["subject"] == pseudonym and consent["scope"] == "itinerary"
    assert consent["given"] is True and consent["channel"] == "web"
    assert dt.datetime.fromtimestamp(consent["ts"], TZ).date() in (day_before, dt.datetime.now(TZ).date())
    viewed = _events(app, "itinerary_viewed")
    assert viewed and viewed[-1]["ts"] >= consent["ts"]


def test_no_consent_is_recorded_before_the_number_is_proven(client, app):
    csrf = _send_code(client, PHONES["green"], agree=True)
    code = last_code(app)
    assert not _events(app, "consent")
    wrong = "000000" if code != "000000" else "111111"
    assert client.post("/card/verify", data={"code": wrong, "csrf_token": csrf}).status_code == 400
    assert not _events(app, "consent")
    assert not app.extensions["riskcard"].state.has_consent(uid_to_pseudonym(UIDS["green"]), "itinerary")


def test_unticked_box_asks_on_the_consent_page_and_no_still_means_no(client, app):
    csrf = _send_code(client, PHONES["green"], agree=False)
    r = client.post("/card/verify", data={"code": last_code(app), "csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/consent")
    assert client.get("/card/show").headers["Location"].endswith("/card/consent")
    r = client.post("/card/consent", data={"agree": "no", "csrf_token": csrf})
    assert r.status_code == 200 and "137****7000" not in r.get_data(as_text=True)
    [consent] = _events(app, "consent")
    assert consent["given"] is False


def test_code_page_says_the_card_comes_next(client, app):
    _send_code(client, PHONES["green"], agree=True)
    page = client.get("/card/verify").get_data(as_text=True)
    assert "137****7000" in _element(page, "masked") and "行程卡" in _element(page, "next-step")


# -- every time labelled, and tied to what it is ------------------------------------------------------
def _local(unix_s: int) -> str:
    return dt.datetime.fromtimestamp(unix_s, TZ).strftime("%Y-%m-%d %H:%M")


def test_every_time_on_the_card_is_labelled_and_is_the_right_time(client, app):
    html = _one_page_card(client, app, PHONES["green"])
    meta = app.extensions["riskcard"].store().meta()
    assert "更新于" not in html  # the unlabelled build clock is gone
    assert "2020-01-27" in _element(html, "window") and "2020-02-09" in _element(html, "window")
    assert meta["as_of"] in _element(html, "as-of")
    assert dt.datetime.fromisoformat(meta["built_at"]).astimezone(TZ).strftime("%Y-%m-%d %H:%M") in _element(html, "built")
    claims = verify_token(token_from_text(qr_url(html)), app.extensions["riskcard"].keyring).claims
    assert _local(claims["iat"]) in _element(html, "issued") and _local(claims["exp"]) in _element(html, "valid-until")
    times = _element(html, "times")
    for label in ("行程时段", "数据截至", "生成于", "本卡签发于", "有效至"):
        assert label in times, label
    english = _element(client.get("/card/show?lang=en").get_data(as_text=True), "times")
    for label in ("Window of stays", "Data up to", "issued", "Valid until"):
        assert label in english, label


# -- a companion is told when, how long, and until when to watch ---------------------------------------
def test_companion_card_says_the_date_the_minutes_and_until_when_to_observe(client, app):
    html = _one_page_card(client, app, PHONES["companion"])
    details = _element(html, "exposure-details")
    assert "2020-02-07" in details and "95 分钟" in details
    assert "2020-02-21" in details and "14" in details  # 14 days after the last exposure
    details_en = _element(client.get("/card/show?lang=en").get_data(as_text=True), "exposure-details")
    assert "2020-02-07" in details_en and "95 minutes" in details_en and "2020-02-21" in details_en


def test_possible_companion_gets_date_and_minutes_without_the_alert(client, app):
    html = _one_page_card(client, app, PHONES["possible"])
    details = _element(html, "exposure-details")
    assert "2020-02-06" in details and "50 分钟" in details and "2020-02-20" in details
    assert 'role="alert"' not in html and "pill-green" in html


def test_green_card_has_no_exposure_details(client, app):
    assert 'id="exposure-details"' not in _one_page_card(client, app, PHONES["green"])


@pytest.mark.parametrize("rows, expected", [
    ([{"last_date": "2020-02-07", "minutes": 95.0, "cases": 1, "level": "companion"}],
     {"level": "companion", "last_date": "2020-02-07", "minutes": 95, "cases": 1, "observe_until": "2020-02-21"}),
    ([{"last_date": "2020-02-03", "minutes": 61.4, "cases": 1, "level": "companion"},
      {"last_date": "2020-02-05", "minutes": 45.0, "cases": 2, "level": "possible"}],
     {"level": "companion", "last_date": "2020-02-03", "minutes": 61, "cases": 1, "observe_until": "2020-02-17"}),
    ([{"last_date": "2020-02-05", "minutes": 45.0, "cases": 2, "level": "possible"}],
     {"level": "possible", "last_date": "2020-02-05", "minutes": 45, "cases": 2, "observe_until": "2020-02-19"}),
    ([], None),
])
def test_exposure_details_follow_the_rows_of_the_deciding_level(rows, expected):
    assert OBSERVE_DAYS_AFTER_EXPOSURE == 14
    assert exposure_details({"exposure": rows}) == expected


# -- the verify page tells the employer what to compare, and the verdicts differ in words ----------------
def test_verify_page_tells_how_to_compare_and_what_the_star_means(client, app):
    html = _one_page_card(client, app, PHONES["companion"])
    path = qr_url(html).replace("https://riskcard.test", "")
    page = client.get(path).get_data(as_text=True)
    compare = _element(page, "how-to-compare")
    assert "前3位" in compare and "后4位" in compare and "时钟" in compare and "走动" in compare
    assert "★" in _element(page, "star-meaning")
    compare_en = _element(client.get(path + "?lang=en").get_data(as_text=True), "how-to-compare")
    assert "first 3" in compare_en and "last 4" in compare_en and "clock" in compare_en


def test_genuine_card_without_records_has_its_own_verdict(client, app):
    from miniapp.proofs import sign_card

    token = sign_card({"window": ["2020-01-27", "2020-02-09"], "cities": [], "colour": "no_records",
                       "masked": "136****6000"}, app.extensions["riskcard"].keyring)
    page = client.get(f"/v/{token}").get_data(as_text=True)
    verdict = re.search(r'<p class="verdict ([^"]+)" id="verdict"[^>]*>(.*?)</p>', page, re.S)
    assert "verdict-no_records" in verdict.group(1) and "verdict-genuine" not in verdict.group(1)
    assert verdict.group(2).strip() != "真实有效" and "无行程记录" in verdict.group(2)
