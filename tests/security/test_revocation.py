"""Issue 16.6, revocation fails open and has no form.

The attacks, each against the real app:

- the state store is down (Redis killed, the SQLite file gone bad) and a revoked card is shown: the
  verify page must not say GENUINE, nor answer a 500, but "cannot check revocation now";
- a card is revoked (by the operator with ``riskcard revoke``, by id or all of a person's cards issued
  before a time; by the holder on the card page): the verify page, the published revocation list
  (``/.well-known/crl/<kid>.json``) and the offline verifier (``riskcard verify`` with that list)
  must all refuse it, and the offline verifier must refuse keys or lists older than 24 h;
- cards are checked by an independent JOSE library (PyJWT) from the published JWKS, and a card
  signed before ``riskcard keys new`` still verifies after it.

Before the fix: with the store down a revoked card verified as genuine (200, ``verdict-genuine``);
there was no revoke command, no "revoke my cards" button, no revocation list (404), and
``riskcard verify`` had no ``--crl``, no timestamp on the JWKS and no freshness rule.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import jwt
import pytest
from click.testing import CliRunner

from forecast.phones import mask_msisdn, normalise_msisdn, pseudonymise, uid_to_pseudonym
from miniapp import proofs as P
from miniapp.app import create_app
from miniapp.cards import card_claims, card_for
from miniapp.cli import cli
from miniapp.sms_out import read_demo_outbox
from tests.conftest import require_binary
from tests.miniapp.codes import last_code
from tests.miniapp.qr_read import qr_url
from tests.miniapp.snapshot_fixture import PHONES, TEST_KEY, UIDS

DAY_S = 24 * 3600


# -- helpers ---------------------------------------------------------------------------------------
def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _last_code(app) -> str:
    return last_code(app)


def _sign_in(client, app, phone: str) -> str:
    """Code by SMS, consent; returns the CSRF token of the session."""
    token = _csrf(client.get("/card/").get_data(as_text=True))
    assert client.post("/card/code", data={"number": phone, "csrf_token": token}).status_code == 302
    assert client.post("/card/verify", data={"code": _last_code(app), "csrf_token": token}).status_code == 302
    r = client.post("/card/consent", data={"agree": "yes", "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/card/show")
    return token


def _show(client) -> tuple[str, str]:
    """(page, token) of a freshly issued card; the token is read from the QR code by a real decoder."""
    r = client.get("/card/show")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    digits = qr_url(html).split("/v/", 1)[1]  # the QR code's packed form: the JWS itself for PyJWT
    return html, P.unpack_token(digits, client.application.extensions["riskcard"].keyring)


def _card_token(client, app, phone: str) -> str:
    _sign_in(client, app, phone)
    return _show(client)[1]


def _header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def _payload(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _verdict(client, token: str) -> tuple[int, str]:
    r = client.get(f"/v/{token}")
    page = r.get_data(as_text=True)
    assert "Traceback" not in page
    return r.status_code, re.search(r'class="verdict verdict-([a-z_]+)', page).group(1)


def _crl(client, kid: str) -> dict:
    r = client.get(f"/.well-known/crl/{kid}.json")
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()


def _state_url(app) -> str:
    return app.config["STATE_URL"]


def _env(app) -> dict[str, str]:
    return {"RISKCARD_STATE_URL": _state_url(app), "RISKCARD_PSEUDONYM_KEY": TEST_KEY.hex(),
            "RISKCARD_SIGNING_KEY_DIR": app.config["SIGNING_KEY_DIR"], "RISKCARD_TZ": "Asia/Shanghai"}


def _save_keys_and_list(client, folder: Path, kid: str) -> Path:
    """What an offline verifier keeps: the JWKS and, next to it, crl/<kid>.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crl").mkdir(exist_ok=True)
    (folder / "jwks.json").write_text(client.get("/.well-known/jwks.json").get_data(as_text=True))
    (folder / "crl" / f"{kid}.json").write_text(json.dumps(_crl(client, kid)))
    return folder / "jwks.json"


def _edit(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    path.write_text(json.dumps(doc))


# -- fail closed -----------------------------------------------------------------------------------
@pytest.fixture
def redis_app(app_config, tmp_path):
    """The app on a real redis-server, which the test may kill."""
    require_binary("redis-server")
    from tests.miniapp.redis_server import RedisServer

    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield create_app({**app_config, "STATE_URL": server.url}), server
    finally:
        server.stop()


def test_redis_down_a_revoked_card_is_not_genuine_but_cannot_be_checked(redis_app):
    app, server = redis_app
    client = app.test_client()
    revoked = _card_token(client, app, PHONES["companion"])
    kept = _show(client)[1]
    app.extensions["riskcard"].state.revoke_proof(_payload(revoked)["jti"])
    assert _verdict(client, revoked) == (200, "revoked")
    assert _verdict(client, kept) == (200, "genuine")

    server.stop()  # the attack: the store is down while the revoked card is shown
    for token in (revoked, kept):
        r = client.get(f"/v/{token}")
        page = r.get_data(as_text=True)
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert "verdict-revocation_unavailable" in page and "verdict-genuine" not in page
        assert "暂时无法检查是否已撤销" in page and "Traceback" not in page
        assert "138****8000" not in page  # no card details a verifier could take for an all-clear
    english = client.get(f"/v/{revoked}?lang=en").get_data(as_text=True)
    assert "CANNOT CHECK REVOCATION NOW" in english
    # the published list is not an empty list either: it says it is unavailable
    kid = _header(revoked)["kid"]
    assert client.get(f"/.well-known/crl/{kid}.json").status_code == 503


def test_sqlite_file_gone_bad_a_revoked_card_is_not_genuine(app, client):
    token = _card_token(client, app, PHONES["traveller"])
    state = app.extensions["riskcard"].state
    state.revoke_proof(_payload(token)["jti"])
    state.close()
    Path(state.path).write_bytes(b"not a database" * 100)  # the disk under the store went bad
    for p in Path(state.path).parent.glob("state.db-*"):
        p.unlink()
    status, verdict = _verdict(client, token)
    assert (status, verdict) == (503, "revocation_unavailable")


# -- revocation with form ----------------------------------------------------------------------------
def test_holder_revokes_all_own_cards_on_the_card_page(app, client):
    csrf = _sign_in(client, app, PHONES["companion"])
    first, second = _show(client)[1], _show(client)[1]
    html = _show(client)[0]
    assert 'action="/card/revoke"' in html and "撤销" in html
    other = _card_token(app.test_client(), app, PHONES["green"])
    kid = _header(first)["kid"]
    ctr = _crl(client, kid)["ctr"]

    assert client.post("/card/revoke", data={"csrf_token": "guessed"}).status_code == 400  # CSRF token required
    assert _verdict(client, first) == (200, "genuine")

    r = client.post("/card/revoke", data={"csrf_token": csrf})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="revoked"' in page and "已撤销" in page
    for token in (first, second):
        assert _verdict(client, token) == (200, "revoked")
    assert _verdict(client, other) == (200, "genuine")  # someone else's card is untouched
    listed = _crl(client, kid)
    assert listed["ctr"] > ctr
    assert {P.revocation_id(_payload(t)["jti"]) for t in (first, second)} <= set(listed["rids"])
    assert P.revocation_id(_payload(other)["jti"]) not in listed["rids"]
    # revoking signs the holder out: to get a new card they prove the number again
    assert client.get("/card/show").headers["Location"].endswith("/card/")
    events = [e for e in app.extensions["riskcard"].state.audit_log() if e["event"] == "card.revoked"]
    assert events and events[0]["by"] == "holder" and events[0]["count"] >= 3


def test_revoke_page_is_bilingual(app, client):
    client.get("/?lang=en")
    csrf = _sign_in(client, app, PHONES["green"])
    assert "Revoke all my cards" in _show(client)[0]
    page = client.post("/card/revoke", data={"csrf_token": csrf}).get_data(as_text=True)
    assert "revoked" in page and "已撤销" not in page


def test_operator_revokes_one_card_by_id_or_token_with_the_cli(app, client):
    token_a = _card_token(client, app, PHONES["traveller"])
    token_b, token_c = _show(client)[1], _show(client)[1]
    runner = CliRunner()
    r = runner.invoke(cli, ["revoke", "card", _payload(token_a)["jti"]], env=_env(app))
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["revoke", "card", "https://riskcard.test/v/" + token_c], env=_env(app))
    assert r.exit_code == 0, r.output
    assert _verdict(client, token_a) == (200, "revoked")
    assert _verdict(client, token_b) == (200, "genuine")
    assert _verdict(client, token_c) == (200, "revoked")
    rids = set(_crl(client, _header(token_a)["kid"])["rids"])
    assert rids == {P.revocation_id(_payload(t)["jti"]) for t in (token_a, token_c)}


def test_operator_revokes_a_persons_cards_issued_before_a_time(app, client):
    services = app.extensions["riskcard"]
    now = int(time.time())
    P.generate_key(app.config["SIGNING_KEY_DIR"], not_before_s=0)  # a key that could sign ten minutes ago

    def card(role: str, at: int) -> str:
        subject = uid_to_pseudonym(UIDS[role])
        claims = card_claims(card_for(services.store(), UIDS[role]), mask_msisdn(normalise_msisdn(PHONES[role])))
        return P.issue_card(services.state, subject, claims, services.keyring, now=at)

    old, new = card("companion", now - 600), card("companion", now - 60)
    someone_else = card("green", now - 600)
    runner = CliRunner()
    r = runner.invoke(cli, ["revoke", "subject", PHONES["companion"], "--before", str(now - 300)], env=_env(app))
    assert r.exit_code == 0, r.output
    assert "1" in r.output and "138****8000" in r.output and PHONES["companion"] not in r.output
    assert _verdict(client, old) == (200, "revoked")
    assert _verdict(client, new) == (200, "genuine")
    assert _verdict(client, someone_else) == (200, "genuine")

    # by pseudonym, and an ISO time; default --before: every card issued so far
    pseudonym = uid_to_pseudonym(pseudonymise(normalise_msisdn(PHONES["green"]), TEST_KEY))
    iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now - 300))
    r = runner.invoke(cli, ["revoke", "subject", pseudonym, "--before", iso], env=_env(app))
    assert r.exit_code == 0, r.output
    assert _verdict(client, someone_else) == (200, "revoked")
    r = runner.invoke(cli, ["revoke", "subject", PHONES["companion"]], env=_env(app))
    assert r.exit_code == 0 and _verdict(client, new) == (200, "revoked")
    assert [e["by"] for e in services.state.audit_log() if e["event"] == "card.revoked"] == ["operator"] * 3
    bad = runner.invoke(cli, ["revoke", "subject", "12345"], env=_env(app))
    assert bad.exit_code != 0 and "Traceback" not in bad.output


def test_revocation_list_shape_and_what_it_leaves_out(app, client):
    token = _card_token(client, app, PHONES["companion"])
    kid = _header(token)["kid"]
    empty = _crl(client, kid)
    assert empty["kid"] == kid and empty["method"] == "rid" and empty["rids"] == []
    assert isinstance(empty["ctr"], int) and abs(empty["iat"] - time.time()) < 60
    r = client.get(f"/.well-known/crl/{kid}.json")
    assert r.headers["Access-Control-Allow-Origin"] == "*" and "max-age" in r.headers["Cache-Control"]
    assert client.get("/.well-known/crl/" + "A" * 43 + ".json").status_code == 404  # not one of our keys
    assert client.get("/.well-known/crl/not-a-kid.json").status_code == 404

    services = app.extensions["riskcard"]
    jti = _payload(token)["jti"]
    services.state.revoke_proof(jti)
    listed = _crl(client, kid)
    assert listed["ctr"] > empty["ctr"] and listed["rids"] == [P.revocation_id(jti)]
    services.state.revoke_proof(jti)  # revoking again changes nothing
    assert _crl(client, kid)["ctr"] == listed["ctr"]
    # the revocation id reveals neither the person nor the card's number
    doc = client.get(f"/.well-known/crl/{kid}.json").get_data(as_text=True)
    assert uid_to_pseudonym(UIDS["companion"]) not in doc and "8000" not in doc and jti not in doc
    # a card long expired drops out of the list (it cannot verify anyway)
    P.generate_key(app.config["SIGNING_KEY_DIR"], not_before_s=0)  # a key that signed three days ago
    subject = uid_to_pseudonym(UIDS["green"])
    old = P.issue_card(services.state, subject, {"window": ("2020-01-10", "2020-01-23"), "cities": [],
                                                 "colour": "green", "masked": "137****7000"},
                       services.keyring, now=int(time.time()) - 3 * DAY_S)
    services.state.revoke_proof(_payload(old)["jti"])
    old_kid = _header(old)["kid"]
    assert P.revocation_id(_payload(old)["jti"]) not in _crl(client, old_kid)["rids"]
    assert _crl(client, kid)["rids"] == [P.revocation_id(jti)]


# -- the offline verifier ------------------------------------------------------------------------
def test_offline_verify_refuses_a_revoked_card_with_the_list_and_stale_keys_or_lists(app, client, tmp_path):
    revoked = _card_token(client, app, PHONES["companion"])
    kept = _show(client)[1]
    kid = _header(revoked)["kid"]
    runner = CliRunner()
    env = {"RISKCARD_TZ": "Asia/Shanghai"}

    def verify(token, *extra):
        return runner.invoke(cli, ["verify", token, "--jwks", str(jwks_file), *extra], env=env)

    jwks_file = _save_keys_and_list(client, tmp_path / "offline", kid)
    ok = verify(revoked)
    assert ok.exit_code == 0 and "genuine" in ok.output, ok.output

    app.extensions["riskcard"].state.revoke_proof(_payload(revoked)["jti"])
    assert verify(revoked).exit_code == 0  # the old list does not know yet
    jwks_file = _save_keys_and_list(client, tmp_path / "offline", kid)  # fetched again
    r = verify(revoked)
    assert r.exit_code == 1 and "revoked" in r.output and "genuine" not in r.output, r.output
    assert json.loads(verify(revoked, "--as-json").output)["status"] == "revoked"
    assert verify(kept).exit_code == 0
    crl_file = tmp_path / "offline" / "crl" / f"{kid}.json"
    r = runner.invoke(cli, ["verify", revoked, "--jwks", str(jwks_file), "--crl", str(crl_file)], env=env)
    assert r.exit_code == 1 and "revoked" in r.output

    now = int(time.time())
    # stale lists are refused, whatever the card
    _edit(crl_file, iat=now - DAY_S - 60)
    r = verify(kept)
    assert r.exit_code != 0 and "revocation list" in r.output and "24 h" in r.output and "genuine" not in r.output
    _edit(crl_file, iat=now)
    assert verify(kept).exit_code == 0
    _edit(jwks_file, iat=now - DAY_S - 60)
    r = verify(kept)
    assert r.exit_code != 0 and "key set" in r.output and "24 h" in r.output and "genuine" not in r.output
    _edit(jwks_file, iat=None)  # a key set without a date cannot be shown to be fresh
    assert verify(kept).exit_code != 0
    _edit(jwks_file, iat=now)
    assert verify(kept).exit_code == 0
    # the clock moved on by a day: both documents are stale now
    r = verify(kept, "--now", str(now + DAY_S + 60))
    assert r.exit_code != 0 and "24 h" in r.output and "genuine" not in r.output
    # a list of another key is no list for this card; a list that is not one is refused
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(crl_file.read_text()), "kid": "B" * 43}))
    r = runner.invoke(cli, ["verify", kept, "--jwks", str(jwks_file), "--crl", str(other)], env=env)
    assert r.exit_code != 0 and "genuine" not in r.output
    other.write_text(json.dumps({"kid": kid, "method": "rid", "rids": "x", "ctr": 1, "iat": now}))
    r = runner.invoke(cli, ["verify", kept, "--jwks", str(jwks_file), "--crl", str(other)], env=env)
    assert r.exit_code != 0 and "Traceback" not in r.output


def test_offline_verify_says_when_revocation_was_not_checked(app, client, tmp_path):
    token = _card_token(client, app, PHONES["green"])
    (tmp_path / "jwks.json").write_text(client.get("/.well-known/jwks.json").get_data(as_text=True))
    r = CliRunner().invoke(cli, ["verify", token, "--jwks", str(tmp_path / "jwks.json")])
    assert r.exit_code == 0 and "not checked" in r.output and "未检查" in r.output


def test_operator_prints_the_list_for_offline_verifiers(app, client):
    token = _card_token(client, app, PHONES["companion"])
    kid = _header(token)["kid"]
    app.extensions["riskcard"].state.revoke_proof(_payload(token)["jti"])
    r = CliRunner().invoke(cli, ["revoke", "list", kid], env=_env(app))
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["kid"] == kid and doc["rids"] == [P.revocation_id(_payload(token)["jti"])]


def test_ids_that_begin_with_a_dash_are_arguments_not_options(app, tmp_path):
    # key ids (RFC 7638 thumbprints) and card ids are base64url: one in 64 begins with "-"
    runner, env = CliRunner(), _env(app)
    kid = "-A" + "b" * 41
    r = runner.invoke(cli, ["revoke", "list", kid], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["kid"] == kid
    r = runner.invoke(cli, ["revoke", "card", "-3q2-7wXkH1xB2Dc"], env=env)
    assert r.exit_code == 0 and "card -3q2-7wXkH1xB2Dc: revoked" in r.output, r.output
    assert app.extensions["riskcard"].state.proof_revoked("-3q2-7wXkH1xB2Dc")
    r = runner.invoke(cli, ["revoke", "card", "-3q2-7wXkH1xB2Dc", "--state-url", env["RISKCARD_STATE_URL"]])
    assert r.exit_code == 0 and "already revoked" in r.output, r.output
    r = runner.invoke(cli, ["keys", "retire", kid, "--key-dir", str(tmp_path)])
    assert r.exit_code == 1 and "no active key" in r.output and "No such option" not in r.output, r.output


# -- over HTTP, against gunicorn ---------------------------------------------------------------------
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _http_card(base: str, outbox: Path, phone: str) -> str:
    """The card flow over HTTP with a cookie jar, as a phone's browser does it; returns the token."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect)

    def call(path: str, form: dict | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with opener.open(urllib.request.Request(base + path, data=data), timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    csrf = _csrf(call("/card/")[1])
    assert call("/card/code", {"number": phone, "csrf_token": csrf})[0] == 302
    code = re.search(r"\b(\d{6})\b", read_demo_outbox(outbox, limit=1)[0]["body"]).group(1)
    assert call("/card/verify", {"code": code, "csrf_token": csrf})[0] == 302
    assert call("/card/consent", {"agree": "yes", "csrf_token": csrf})[0] == 302
    status, html = call("/card/show")
    assert status == 200
    with urllib.request.urlopen(base + "/.well-known/jwks.json", timeout=10) as resp:
        keys = P.load_jwks(resp.read())
    return P.unpack_token(qr_url(html).split("/v/", 1)[1], keys)  # the JWS the QR code packs


def test_verify_against_the_live_service_reads_keys_and_list_by_url(tmp_path):
    from tests.miniapp.servers import Gunicorn
    from tests.miniapp.snapshot_fixture import publish_fixture

    snapshots = publish_fixture(tmp_path / "snapshots")
    P.generate_key(tmp_path / "keys")  # gunicorn's signing key
    outbox = tmp_path / "outbox.jsonl"
    demo = {"RISKCARD_DEMO": "1", "RISKCARD_SMS_BACKEND": "outbox", "RISKCARD_DEMO_OUTBOX": str(outbox)}
    with Gunicorn(tmp_path, snapshots, workers=2, env=demo) as g:
        base = f"http://127.0.0.1:{g.port}"
        state_url = g.env["RISKCARD_STATE_URL"]
        token = _http_card(base, outbox, PHONES["companion"])
        runner = CliRunner()
        jwks_url = base + "/.well-known/jwks.json"
        assert runner.invoke(cli, ["verify", token, "--jwks", jwks_url]).exit_code == 0
        r = runner.invoke(cli, ["revoke", "card", _payload(token)["jti"]], env={"RISKCARD_STATE_URL": state_url})
        assert r.exit_code == 0, r.output
        r = runner.invoke(cli, ["verify", token, "--jwks", jwks_url])
        assert r.exit_code == 1 and "revoked" in r.output, r.output
        with urllib.request.urlopen(base + "/v/" + token, timeout=10) as resp:
            assert resp.status == 200 and "verdict-revoked" in resp.read().decode()


# -- an independent JOSE library, and key rotation -----------------------------------------------------
def test_cards_verify_with_pyjwt_from_the_published_jwks_and_survive_rotation(app, client, app_config):
    old = _card_token(client, app, PHONES["companion"])

    def pyjwt_claims(token: str) -> dict:
        keys = client.get("/.well-known/jwks.json").get_json()
        jwk = next(k for k in keys["keys"] if k["kid"] == _header(token)["kid"])
        return jwt.decode(token, jwt.PyJWK(jwk), algorithms=["EdDSA"], issuer="riskcard",
                          options={"require": ["exp", "iat", "jti"]})

    claims = pyjwt_claims(old)
    assert claims["msk"] == "138****8000" and claims["col"] == "orange"
    with pytest.raises(jwt.InvalidSignatureError):
        head, payload, sig = old.split(".")
        pyjwt_claims(head + "." + payload + "." + ("A" if sig[0] != "A" else "B") + sig[1:])

    r = CliRunner().invoke(cli, ["keys", "new"], env={"RISKCARD_SIGNING_KEY_DIR": app_config["SIGNING_KEY_DIR"]})
    assert r.exit_code == 0, r.output
    new_kid = r.output.strip()
    published = {k["kid"] for k in client.get("/.well-known/jwks.json").get_json()["keys"]}
    assert new_kid in published and _header(old)["kid"] in published and len(published) == 2
    assert pyjwt_claims(old)["jti"] == claims["jti"]  # the old card still verifies after rotation
    assert _verdict(client, old) == (200, "genuine")
    fresh = _show(client)[1]
    assert pyjwt_claims(fresh)["msk"] == "138****8000" and _verdict(client, fresh) == (200, "genuine")
