"""Issue 16.1, SMS pumping: codes to any country and no global budget.

The attack: ask for one-time codes to numbers abroad, on satellite networks, premium or fixed lines,
and to many numbers in many prefixes from many client addresses. Before the fix 10 of 10 foreign
numbers got a code and 40 of 40 rotating numbers did.
"""

from __future__ import annotations

import re

import pytest

from miniapp.app import create_app

FOREIGN = ["+882161234567", "+97912345678", "+5351234567", "+238991234", "+37061234567", "+447700900123",
           "+14155550100"]
NOT_MOBILE = ["+861012345678", "+864001234567"]  # Beijing fixed line, a 400 shared-cost number


def _csrf(client) -> str:
    html = client.get("/card/").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _ask(client, number: str, ip: str):
    client.environ_base["REMOTE_ADDR"] = ip
    return client.post("/card/code", data={"number": number, "csrf_token": _csrf(client)})


def _sent(app) -> int:
    return len(app.extensions["riskcard"].state.outbox(limit=1000))


@pytest.mark.parametrize("number", FOREIGN + NOT_MOBILE)
def test_no_code_to_foreign_satellite_premium_or_fixed_numbers(app, number):
    client = app.test_client()
    r = _ask(client, number, "198.51.100.7")
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and ("仅支持中国大陆手机号码" in page or "手机号格式不对" in page)
    assert _sent(app) == 0
    reasons = [e["result"] for e in app.extensions["riskcard"].state.audit_log() if e["event"] == "otp.request"]
    assert reasons == [] or reasons[0] in ("invalid_number", "region_not_allowed", "not_mobile")


def test_an_allowed_region_can_be_opened_by_setting(app_config):
    app = create_app({**app_config, "OTP_ALLOWED_REGIONS": "CN,US"})
    r = _ask(app.test_client(), "+14155550100", "198.51.100.7")
    assert r.status_code == 302 and _sent(app) == 1


def test_rotating_prefixes_and_addresses_hit_the_global_budget(app_config, caplog):
    """40 mainland mobile numbers in 40 prefixes from 40 addresses: the per-IP, per-number and
    per-prefix limits each see one request; the global budget (here 10 an hour) stops the rest."""
    app = create_app({**app_config, "OTP_HOURLY_BUDGET": 10})
    client = app.test_client()
    statuses = [_ask(client, f"+86138{i:02d}000000", f"203.0.113.{i + 1}").status_code for i in range(40)]
    assert statuses.count(302) == 10 and statuses[10:] == [503] * 30
    assert _sent(app) == 10
    assert any("near the global budget" in r.getMessage() for r in caplog.records)
    assert any("budget of one-time codes is spent" in r.getMessage() for r in caplog.records)


def test_on_the_served_app_foreign_numbers_and_the_budget(tmp_path):
    """The same attack over HTTP against gunicorn (client addresses rotated through one trusted proxy hop)."""
    from http.cookiejar import CookieJar
    from urllib.error import HTTPError
    from urllib.parse import urlencode
    from urllib.request import HTTPCookieProcessor, Request, build_opener

    from tests.miniapp.servers import Gunicorn
    from tests.miniapp.snapshot_fixture import publish_fixture

    env = {"RISKCARD_OTP_HOURLY_BUDGET": "5", "RISKCARD_TRUST_PROXY_HOPS": "1"}
    with Gunicorn(tmp_path, publish_fixture(tmp_path / "snapshots"), workers=2, env=env) as g:
        base = f"http://127.0.0.1:{g.port}"

        def ask(number: str, ip: str) -> int:
            opener = build_opener(HTTPCookieProcessor(CookieJar()))
            html = opener.open(base + "/card/", timeout=10).read().decode()
            token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
            req = Request(base + "/card/code", data=urlencode({"number": number, "csrf_token": token}).encode(),
                          headers={"X-Forwarded-For": ip})
            try:
                return opener.open(req, timeout=10).status  # redirects followed: 200 on the code page
            except HTTPError as exc:
                return exc.code

        foreign = [ask(n, f"198.51.100.{i + 1}") for i, n in enumerate(FOREIGN)]
        rotating = [ask(f"+86139{i:02d}000000", f"203.0.113.{i + 1}") for i in range(12)]
    assert foreign == [400] * len(FOREIGN)
    assert rotating == [200] * 5 + [503] * 7
