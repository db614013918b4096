"""Hostile input against every route of the real app: huge bodies, NUL bytes, lone surrogates, RTL
overrides, FTS query syntax, deep JSON, forged cookies. Never a 500, never a traceback; bodies over
the limit get a 413; the Twilio webhook and the chat answer every signed message without falling back
to their "busy" apology (which would hide an exception).
"""

from __future__ import annotations

import time

import secrets
import json
import logging
from urllib.parse import quote, urlencode

import pytest
from twilio.request_validator import RequestValidator

MB = 1024 * 1024
AUTH_TOKEN = "hostile-auth-token-0123456789abcdef"
PUBLIC_URL = "https://riskcard.test"

# Each value is raw bytes as they would arrive URL-encoded: not all of them are valid UTF-8.
HOSTILE: dict[str, bytes] = {
    "nul": b"13800\x00138000",
    "lone_surrogate": b"\xed\xa0\x80bbt",  # CESU-style surrogate: invalid UTF-8
    "invalid_utf8": b"\xff\xfe\xc3(",
    "rtl_override": "\u202e0008310083\u202c百步亭".encode(),
    "zero_width": "b\u200bb\u200dt\ufeff".encode(),
    "combining": ("e" + "\u0301" * 500).encode(),
    "fullwidth_digits": "１３８００１３８０００".encode(),
    "fts_syntax": b'" OR NEAR(a b) * AND -x ^y {z}:',
    "sql": b"' OR 1=1 --; DROP TABLE communities;",
    "html": b"<script>alert(1)</script><img src=x onerror=alert(1)>",
    "crlf": b"x\r\nSet-Cookie: evil=1\r\n",
    "path_traversal": b"../../../../etc/passwd",
    "emoji": "\U0001f9a0\U0001f637\U0001f1e8\U0001f1f3".encode(),
    "long": b"9" * 8000,
    "huge_int": b"99999999999999999999999999",
    "negative": b"-1",
    "empty": b"",
}
FIELDS = ["q", "number", "code", "date", "car", "limit", "lang", "agree", "text", "session", "Body", "From"]


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    from miniapp.app import create_app
    from miniapp.proofs import generate_key
    from tests.miniapp.snapshot_fixture import TEST_KEY, publish_fixture

    from tests.miniapp.crowd.kit import make_city, refresh

    tmp = tmp_path_factory.mktemp("hostile")
    (tmp / "keys").mkdir()
    generate_key(tmp / "keys")
    _, crowd_paths, _ = make_city(tmp / "crowd-city", now_s=int(time.time()) // 900 * 900, days=36, flat=True)
    refresh(crowd_paths, now_s=int(time.time()) // 900 * 900)  # the market routes answer from a real crowd store
    app = create_app({
        "CROWD_DIR": str(crowd_paths["crowd"]),
        "TESTING": True,
        "SECRET_KEY": "hostile-secret-" + "x" * 32,
        "PSEUDONYM_KEY": TEST_KEY.hex(),
        "SNAPSHOT_DIR": str(publish_fixture(tmp / "snapshots")),
        "STATE_URL": "sqlite:///" + str(tmp / "state.db"),
        "SIGNING_KEY_DIR": str(tmp / "keys"),
        "PUBLIC_URL": PUBLIC_URL,
        "SMS_BACKEND": "outbox",
        "DEMO": 1,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    })
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a bug must show as a 500 here, as it would in production
    return app


def _routes(app) -> list[tuple[str, str]]:
    """(method, rule) of every route, OPTIONS aside."""
    return sorted((m, r.rule) for r in app.url_map.iter_rules() for m in r.methods - {"OPTIONS"})


def _fill(rule: str, value: bytes) -> str:
    """The rule with every converter replaced: ints by a huge number, text by the hostile value."""
    import re

    text = quote(value, safe="") or "x"
    return re.sub(r"<(int:)?[^>]+>", lambda m: "99999999999999999999999" if m.group(1) else text, rule)


def _form(value: bytes, csrf: str) -> bytes:
    pairs = [(f.encode(), value) for f in FIELDS] + [(b"csrf_token", csrf.encode())]
    return b"&".join(quote(k, safe="").encode() + b"=" + quote(v, safe="").encode() for k, v in pairs)


def _client_with_csrf(app):
    client = app.test_client()
    with client.session_transaction() as s:
        s["csrf"] = "hostile-csrf-token"
    return client


def _check(resp, what) -> None:
    body = resp.get_data()
    assert resp.status_code < 500, (what, resp.status_code, body[:300])
    assert b"Traceback" not in body and b'File "' not in body, what


@pytest.fixture
def no_errors(hostile_app, caplog):
    """After the test: nothing counted as a 500 and nothing logged at ERROR."""
    counts = hostile_app.extensions["riskcard_error_counts"]
    before = counts[500]
    with caplog.at_level(logging.WARNING):
        yield
    assert counts[500] == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


def test_every_route_survives_hostile_paths_queries_and_forms(hostile_app, no_errors):
    client = _client_with_csrf(hostile_app)
    tried = 0
    for method, rule in _routes(hostile_app):
        for name, value in HOSTILE.items():
            url = _fill(rule, value) + "?" + "&".join(f"{f}={quote(value, safe='')}" for f in FIELDS)
            if method in ("GET", "HEAD"):
                resp = client.open(url, method=method)
            else:
                resp = client.open(url, method=method, data=_form(value, "hostile-csrf-token"),
                                   content_type="application/x-www-form-urlencoded")
            _check(resp, (method, rule, name))
            tried += 1
    assert tried == len(_routes(hostile_app)) * len(HOSTILE)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "application/json",
                                          "multipart/form-data; boundary=xyz", "text/plain",
                                          "application/octet-stream"])
def test_one_megabyte_bodies_are_refused_everywhere(hostile_app, content_type, no_errors):
    """1 MB to every route: POST routes answer 413; GET routes ignore the body; nothing breaks."""
    client = _client_with_csrf(hostile_app)
    body = b"number=" + b"1" * MB
    for method, rule in _routes(hostile_app):
        resp = client.open(_fill(rule, b"1"), method=method, data=body, content_type=content_type)
        _check(resp, (method, rule, content_type))
        if method == "POST":
            assert resp.status_code == 413, (rule, content_type, resp.status_code)


def test_json_bodies_with_odd_unicode_and_deep_nesting(hostile_app, no_errors):
    client = _client_with_csrf(hostile_app)
    bodies = [
        b'{"session": "' + b"s" * 32 + b'", "text": "\\ud800\\u202e\\u0000bbt"}',
        b'{"session": "\\ud800' + b"s" * 32 + b'", "text": "x"}',
        b"[" * 3000 + b"]" * 3000,
        b'{"a":' * 1000 + b"1" + b"}" * 1000,
        b'{"session": 1e999999, "text": NaN}',
        b"\xff\xfe{}",
        b"",
    ]
    for method, rule in _routes(hostile_app):
        if method != "POST":
            continue
        for body in bodies:
            resp = client.post(_fill(rule, b"1"), data=body, content_type="application/json",
                               headers={"Origin": PUBLIC_URL})
            _check(resp, (rule, body[:30]))


def test_hostile_headers_and_cookies(hostile_app, no_errors):
    client = hostile_app.test_client()
    headers = [
        {"Accept-Language": "\u202ezh-CN;q=abc, *;q=NaN, " + "x" * 4000},
        {"Accept": "application/json;q=\x00"},
        {"Cookie": "session=" + "A" * 3000},
        {"Cookie": "session=.eJyrVkrOz0lNSQ.forged.signature"},
        {"X-Forwarded-For": "\u202e1.2.3.4, ::1, garbage"},
        {"X-Twilio-Signature": "\x00" * 64},
    ]
    for method, rule in _routes(hostile_app):
        for h in headers:
            resp = client.open(_fill(rule, b"1"), method=method, headers=h)
            _check(resp, (method, rule, list(h)))


def _signed(params: dict[str, str], path: str = "/sms/inbound") -> tuple[bytes, dict]:
    sig = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
    return urlencode(params).encode(), {"X-Twilio-Signature": sig}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_bot_answers_hostile_text_without_hiding_an_error(hostile_app, name, no_errors):
    """A signed SMS with hostile text is answered (TwiML 200), never with the "busy" fallback."""
    from bot import sms

    text = HOSTILE[name].decode("utf-8", "replace")[:1600]
    body, headers = _signed({"From": "+8613800138000", "To": "+14155550100", "Body": text,
                             "MessageSid": "SM" + secrets.token_hex(16), "AccountSid": "AC" + "0" * 32})
    errors_before = sms.counts().get("error", 0)
    resp = hostile_app.test_client().post("/sms/inbound", data=body, headers=headers,
                                          content_type="application/x-www-form-urlencoded")
    _check(resp, name)
    assert resp.status_code == 200 and b"<Response>" in resp.get_data()
    assert sms.counts().get("error", 0) == errors_before, "the bot fell back to its busy reply"
    assert "13800138000" not in resp.get_data(as_text=True)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_chat_answers_hostile_text(hostile_app, name, no_errors):
    text = HOSTILE[name].decode("utf-8", "replace")[:500]
    resp = hostile_app.test_client().post("/chat/api", data=json.dumps({"session": "h" * 32, "text": text}),
                                          content_type="application/json", headers={"Origin": PUBLIC_URL})
    _check(resp, name)
    assert resp.status_code in (200, 429), resp.get_data()[:200]
    if resp.status_code == 200:
        assert resp.get_json()["reply"]


def test_chunked_bodies_without_length_are_capped(hostile_app, no_errors):
    """A body with no Content-Length (chunked) is still cut off at the limit by the form parser."""
    import io

    client = _client_with_csrf(hostile_app)
    for method, rule in _routes(hostile_app):
        if method != "POST":
            continue
        body = b"csrf_token=hostile-csrf-token&number=" + b"1" * MB
        resp = client.open(_fill(rule, b"1"), method="POST", input_stream=io.BytesIO(body),
                           content_type="application/x-www-form-urlencoded",
                           environ_overrides={"wsgi.input_terminated": True})
        _check(resp, rule)
        assert resp.status_code == 413, (rule, resp.status_code)
