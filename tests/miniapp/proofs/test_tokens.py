"""Signed card proofs: QR round trip through a real decoder, rejection of every kind of bad token,
key rotation, JWKS, and the ``riskcard keys`` / ``riskcard verify`` commands."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miniapp import proofs as P
from miniapp.proofs.keys import canonical_json
from miniapp.cli import cli
from miniapp.qr import qr_png, qr_svg
from miniapp.state import open_state

zxingcpp = pytest.importorskip("zxingcpp")
from PIL import Image  # noqa: E402  (qrcode[pil] brings Pillow)

T0 = 1_580_000_000
CLAIMS = {
    "window": ("2020-01-10", "2020-01-23"),
    "cities": [{"name": "武汉", "en": "Wuhan", "star": True}, ("北京", False, "Beijing"), ("孝感", True)],
    "colour": "yellow",
    "msisdn_masked": "138****8000",
    "updated": "2020-01-24T08:00+08:00",
}


@pytest.fixture
def key_dir(tmp_path):
    d = tmp_path / "keys"
    P.generate_key(d, not_before_s=T0 - 100)
    return d


@pytest.fixture
def ring(key_dir):
    return P.load_signing_keys(key_dir)


@pytest.fixture
def token(ring):
    return P.sign_card(CLAIMS, ring, now=T0)


def decode_qr(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormat.QRCode)
    assert len(results) == 1
    return results[0].text


def resign(token: str, ring: P.KeyRing, payload_edit=None, header_edit=None) -> str:
    """Re-encode a token's parts after an edit, keeping the old signature (a tampered token)."""
    h, p, s = token.split(".")
    header = json.loads(P.b64url_decode(h))
    payload = json.loads(P.b64url_decode(p))
    if header_edit:
        header_edit(header)
    if payload_edit:
        payload_edit(payload)
    return P.b64url(canonical_json(header)) + "." + P.b64url(canonical_json(payload)) + "." + s


# -- keys ----------------------------------------------------------------------------------------
def test_key_files_are_private_and_named_by_thumbprint(key_dir, ring):
    (path,) = key_dir.glob("*.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.name.endswith(f"_{ring.keys[0].kid}.pem")
    assert P.jwk_thumbprint(P.public_jwk(ring.keys[0].public)) == ring.keys[0].kid


def test_jwks_has_no_private_material(ring):
    doc = P.jwks(ring)
    (jwk,) = doc["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"} and "d" not in jwk
    assert len(P.b64url_decode(jwk["x"])) == 32


def test_renamed_or_corrupt_key_file_refused(key_dir):
    (path,) = key_dir.glob("*.pem")
    other = P.generate_key(key_dir.parent / "other")
    path.rename(path.with_name(path.name.split("_")[0] + f"_{other}.pem"))
    with pytest.raises(P.ProofError, match="renamed or tampered"):
        P.load_signing_keys(key_dir)
    for p in key_dir.glob("*.pem"):
        p.write_bytes(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(P.ProofError, match="cannot read"):
        P.load_signing_keys(key_dir)


def test_jwks_with_wrong_kid_refused(ring):
    doc = P.jwks(ring)
    doc["keys"][0]["kid"] = "not-the-thumbprint"
    with pytest.raises(P.ProofError, match="thumbprint"):
        P.load_jwks(doc)
    with pytest.raises(P.ProofError, match="not a JWK Set"):
        P.load_jwks("[1, 2]")


def test_no_signing_key(tmp_path):
    with pytest.raises(P.ProofError, match="keys new"):
        P.sign_card(CLAIMS, P.load_signing_keys(tmp_path / "none"), now=T0)


# -- sign and verify -----------------------------------------------------------------------------
def test_genuine_through_ring_and_published_jwks(token, ring):
    for keys in (ring, P.jwks(ring), json.loads(json.dumps(P.jwks(ring)))):
        v = P.verify_token(token, keys, now=T0 + 3600)
        assert v.status == "genuine" and v.genuine
        c = v.claims
        assert c["msisdn_masked"] == c["masked"] == "138****8000"
        assert c["window"] == ["2020-01-10", "2020-01-23"]
        assert c["cities"] == [{"name": "武汉", "en": "Wuhan", "star": True},
                               {"name": "北京", "en": "Beijing", "star": False},
                               {"name": "孝感", "en": None, "star": True}]
        assert c["colour"] == "yellow" and c["iat"] == T0 and c["exp"] == T0 + 24 * 3600
        assert c["iss"] == "riskcard" and c["kid"] == ring.keys[0].kid and c["updated"] == CLAIMS["updated"]


def test_every_token_has_a_unique_id(ring):
    ids = {P.verify_token(P.sign_card(CLAIMS, ring, now=T0), ring, now=T0).claims["jti"] for _ in range(50)}
    assert len(ids) == 50


def test_qr_png_decodes_to_a_verifiable_url(token, ring):
    url = P.card_url("https://riskcard.example", token)
    decoded = decode_qr(qr_png(url))
    assert decoded == url
    assert P.verify_token(P.token_from_text(decoded), P.jwks(ring), now=T0 + 60).status == "genuine"


def test_largest_card_fits_and_decodes(ring):
    claims = {**CLAIMS, "cities": [(f"乌鲁木齐{i:02d}", i % 2, f"Urumqi-city-{i:02d}") for i in range(P.MAX_CITIES)]}
    token = P.sign_card(claims, ring, now=T0)
    assert len(token) <= P.MAX_TOKEN_CHARS
    print("largest token chars", len(token))
    url = P.card_url("https://riskcard.example", token)
    assert P.verify_token(P.token_from_text(decode_qr(qr_png(url))), ring, now=T0).status == "genuine"


def test_qr_svg_is_a_single_path(token):
    svg = qr_svg(P.card_url("https://riskcard.example", token))
    assert svg.startswith("<svg") and svg.count("<path") == 1 and 'fill="white"' in svg


def test_qr_refuses_oversized_url():
    with pytest.raises(ValueError):
        qr_png("https://x/" + "a" * 3000)


def test_sign_refuses_bad_claims(ring):
    bad = [
        {**CLAIMS, "msisdn_masked": "13800138000"},  # a full number must never be signed
        {**CLAIMS, "colour": "purple"},
        {**CLAIMS, "window": ("2020-01-23", "2020-01-10")},
        {**CLAIMS, "window": "2020-01-10"},
        {**CLAIMS, "cities": [("", True)]},
        {**CLAIMS, "cities": [("城", 1)] * (P.MAX_CITIES + 1)},
    ]
    for claims in bad:
        with pytest.raises(P.ProofError):
            P.sign_card(claims, ring, now=T0)
    with pytest.raises(P.ProofError, match="ttl_s"):
        P.sign_card(CLAIMS, ring, ttl_s=24 * 3600 + 1, now=T0)


# -- rejection, each with its own reason ---------------------------------------------------------
def test_rejections_have_distinct_statuses_and_reasons(token, ring, tmp_path):
    other_ring = P.load_signing_keys(tmp_path / "k2") if P.generate_key(tmp_path / "k2", not_before_s=0) else None
    other_token = P.sign_card(CLAIMS, other_ring, now=T0)
    h, p, s = token.split(".")
    forged_with_our_kid = resign(other_token, other_ring, header_edit=lambda hd: hd.update(kid=ring.keys[0].kid))
    sig = bytearray(P.b64url_decode(s))
    sig[0] ^= 1
    cases = {
        "tampered payload": (resign(token, ring, payload_edit=lambda pl: pl.update(col="green")), "forged"),
        "tampered city": (resign(token, ring, payload_edit=lambda pl: pl["cty"].pop(0)), "forged"),
        "tampered signature": (f"{h}.{p}.{P.b64url(bytes(sig))}", "forged"),
        "wrong key, our kid": (forged_with_our_kid, "forged"),
        "alg none": (resign(token, ring, header_edit=lambda hd: hd.update(alg="none")).rsplit(".", 1)[0] + ".",
                     "forged"),
        "wrong key": (other_token, "unknown_key"),
        "expired": (token, "expired"),
        "malformed": ("not-a-token", "malformed"),
        "bad base64": (f"{h}.{p}!.{s}", "malformed"),
        "huge": (token + "A" * P.MAX_TOKEN_CHARS, "malformed"),
        "not text": (None, "malformed"),
    }
    reasons = {}
    for name, (tok, expected) in cases.items():
        now = T0 + 24 * 3600 + 60 if name == "expired" else T0 + 10
        v = P.verify_token(tok, P.jwks(ring), now=now)
        assert v.status == expected, (name, v)
        assert not v.genuine
        assert (v.claims is not None) == (expected == "expired"), name
        reasons[name] = v.reason
    distinct = {reasons[n] for n in ("tampered payload", "alg none", "wrong key", "expired", "malformed",
                                     "bad base64", "huge", "not text")}
    assert len(distinct) == 8, reasons


def test_expiry_leeway(token, ring):
    exp = T0 + 24 * 3600
    assert P.verify_token(token, ring, now=exp + 59).status == "genuine"
    assert P.verify_token(token, ring, now=exp + 60).status == "expired"
    assert P.verify_token(token, ring, now=exp, leeway_s=0).status == "expired"
    assert P.verify_token(token, ring, now=T0 - 3600).status == "malformed"  # issued in the future


def test_issuer_check(token, ring):
    assert P.verify_token(token, ring, now=T0, issuer="riskcard").genuine
    assert P.verify_token(token, ring, now=T0, issuer="someone-else").status == "forged"


def test_revocation_through_state(ring, tmp_path):
    st = open_state(f"sqlite:///{tmp_path / 's.db'}", clock=lambda: T0)
    token = P.issue_card(st, "68ba9da759ce5549", CLAIMS, ring, now=T0)
    assert P.verify_token(token, ring, now=T0, state=st).status == "genuine"
    jti = P.verify_token(token, ring, now=T0).claims["jti"]
    assert st.audit_log()[0] == {"ts": T0, "event": "card.issued", "subject": "68ba9da759ce5549", "jti": jti,
                                 "masked": "138****8000", "exp": T0 + 24 * 3600}
    st.revoke_proof(jti)
    v = P.verify_token(token, ring, now=T0, state=st)
    assert v.status == "revoked" and v.claims["jti"] == jti
    st.close()


# -- rotation ------------------------------------------------------------------------------------
def test_rotation_new_key_signs_old_tokens_verify_until_retired(key_dir):
    ring1 = P.load_signing_keys(key_dir)
    old_kid = ring1.keys[0].kid
    old_token = P.sign_card(CLAIMS, ring1, now=T0)

    pending = P.generate_key(key_dir, not_before_s=T0 + 3600)  # published an hour before it signs
    ring2 = P.load_signing_keys(key_dir)
    assert {k["kid"] for k in P.jwks(ring2)["keys"]} == {old_kid, pending}
    assert P.verify_token(P.sign_card(CLAIMS, ring2, now=T0), ring2, now=T0).claims["kid"] == old_kid

    new_token = P.sign_card(CLAIMS, ring2, now=T0 + 3600)
    assert P.verify_token(new_token, ring2, now=T0 + 3600).claims["kid"] == pending
    assert P.verify_token(old_token, P.jwks(ring2), now=T0 + 3600).status == "genuine"
    assert P.verify_token(new_token, P.jwks(ring1), now=T0 + 3600).status == "unknown_key"  # stale key set

    P.retire_key(key_dir, old_kid)
    ring3 = P.load_signing_keys(key_dir)
    assert [k.kid for k in ring3.keys] == [pending]
    assert P.verify_token(old_token, ring3, now=T0 + 3600).status == "unknown_key"
    assert P.verify_token(new_token, ring3, now=T0 + 3600).status == "genuine"
    with pytest.raises(P.ProofError):
        P.retire_key(key_dir, old_kid)


# -- fuzzing -------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=3000), st.from_regex(r"[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,400}\."
                                                              r"[A-Za-z0-9_-]{0,100}", fullmatch=True)))
def test_fuzz_arbitrary_text_is_never_genuine_and_never_raises(ring, text):
    v = P.verify_token(text, ring, now=T0)
    assert v.status in P.STATUSES and v.status != "genuine" and v.reason


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_any_single_character_change_is_rejected(token, ring, data):
    i = data.draw(st.integers(0, len(token) - 1))
    c = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."))
    if token[i] == c:
        return
    mutated = token[:i] + c + token[i + 1:]
    assert P.verify_token(mutated, ring, now=T0).status != "genuine"


# -- CLI -----------------------------------------------------------------------------------------
def test_cli_keys_new_list_jwks_and_verify(tmp_path):
    runner = CliRunner()
    env = {"RISKCARD_SIGNING_KEY_DIR": str(tmp_path / "keys"), "RISKCARD_TZ": "Asia/Shanghai"}
    new = runner.invoke(cli, ["keys", "new"], env=env)
    assert new.exit_code == 0, new.output
    kid = new.output.strip()
    listed = runner.invoke(cli, ["keys", "list"], env=env)
    assert listed.exit_code == 0 and kid in listed.output and "signing" in listed.output
    jwks_out = runner.invoke(cli, ["keys", "jwks"], env=env)
    (tmp_path / "jwks.json").write_text(jwks_out.output)
    assert json.loads(jwks_out.output)["keys"][0]["kid"] == kid

    ring = P.load_signing_keys(tmp_path / "keys")
    token = P.sign_card(CLAIMS, ring)
    url = P.card_url("https://riskcard.example", token)
    ok = runner.invoke(cli, ["verify", url, "--jwks", str(tmp_path / "jwks.json")], env=env)
    assert ok.exit_code == 0, ok.output
    assert "genuine" in ok.output and "138****8000" in ok.output and "武汉*" in ok.output and "北京," in ok.output
    by_dir = runner.invoke(cli, ["verify", token, "--key-dir", str(tmp_path / "keys"), "--as-json"], env=env)
    assert by_dir.exit_code == 0 and json.loads(by_dir.output)["status"] == "genuine"
    late = runner.invoke(cli, ["verify", token, "--jwks", str(tmp_path / "jwks.json"),
                               "--now", str(10 ** 10)], env=env)
    assert late.exit_code == 1 and "expired" in late.output
    stdin = runner.invoke(cli, ["verify", "-", "--jwks", str(tmp_path / "jwks.json")], input=token[:-3] + "\n",
                          env=env)
    assert stdin.exit_code == 1 and "genuine" not in stdin.output


def test_cli_errors_are_friendly(tmp_path):
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = runner.invoke(cli, ["verify", "a.b.c", "--jwks", str(bad)])
    assert r.exit_code == 1 and "cannot read the keys" in r.output and "Traceback" not in r.output
    r = runner.invoke(cli, ["keys", "retire", "nope", "--key-dir", str(tmp_path)])
    assert r.exit_code == 1 and "no active key" in r.output
    r = runner.invoke(cli, ["keys", "list", "--key-dir", str(tmp_path / "empty")])
    assert r.exit_code == 0 and "riskcard keys new" in r.output
    assert not os.path.exists(tmp_path / "empty")
