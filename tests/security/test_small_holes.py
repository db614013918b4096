"""Issue 16.12, the smaller holes, each as the attack.

- TRACE answered 415 (the CSRF hook ran before routing): it must be 405.
- A JSON content type skipped the CSRF check on form routes.
- /metrics was public on the app port (now: on the internal metrics port only).
- The key directory was 0755 and state.db 0644.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from miniapp.app import create_app
from tests.miniapp.snapshot_fixture import PHONES


def test_trace_and_unknown_methods_are_405(client):
    for path in ("/", "/card/", "/api/v1/meta"):
        assert client.open(path, method="TRACE").status_code == 405
    assert client.open("/card/code", method="PUT", data="x", content_type="text/plain").status_code == 405


def test_json_body_to_a_form_route_does_not_skip_csrf(app, client):
    r = client.post("/card/code", json={"number": PHONES["green"]})
    assert r.status_code == 415
    assert app.extensions["riskcard"].state.outbox() == []  # no code was sent
    assert client.post("/chat/api", json={"session": "s" * 20, "text": "帮助"}).status_code == 200


def test_metrics_are_not_public(client):
    """The public app has no /metrics at all (not from loopback, not with any token): the metrics are on
    the internal listener only (127.0.0.1:RISKCARD_METRICS_PORT, tests/miniapp/test_metrics.py)."""
    outside = {"REMOTE_ADDR": "203.0.113.5"}
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", environ_base=outside).status_code == 404
    assert client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer x" * 8}).status_code == 404
    assert "riskcard_" not in client.get("/metrics").get_data(as_text=True)


def test_state_file_and_key_directory_are_private(app_config, tmp_path):
    keys = tmp_path / "fresh-keys"
    keys.mkdir(mode=0o755)
    from miniapp.proofs import generate_key

    generate_key(keys)
    db = tmp_path / "fresh-state.db"
    app = create_app({**app_config, "SIGNING_KEY_DIR": str(keys), "STATE_URL": f"sqlite:///{db}"})
    client = app.test_client()
    html = client.get("/card/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    client.post("/card/code", data={"number": PHONES["green"], "csrf_token": token})
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    for f in [db, *Path(tmp_path).glob("fresh-state.db-*")]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name


def test_gunicorns_own_414_page_has_the_security_headers(tmp_path):
    """gunicorn answers an over-long request line itself, before the app: its page gets the headers too."""
    import http.client

    from miniapp.security import HEADERS
    from tests.miniapp.servers import Gunicorn
    from tests.miniapp.snapshot_fixture import publish_fixture

    with Gunicorn(tmp_path, publish_fixture(tmp_path / "snapshots"), workers=1) as g:
        conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
        try:
            conn.request("GET", "/?q=" + "a" * 6000, headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
    assert resp.status == 414
    for name, value in HEADERS.items():
        assert resp.getheader(name) == value, name


def test_a_token_not_valid_yet_is_refused():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from miniapp.proofs import Key, KeyRing, b64url, jwk_thumbprint, public_jwk, verify_token
    from miniapp.proofs.keys import canonical_json

    private = Ed25519PrivateKey.generate()
    kid = jwk_thumbprint(public_jwk(private.public_key()))
    ring = KeyRing([Key(kid, private.public_key(), private)])
    now = 1_700_000_000
    payload = {"iss": "riskcard", "iat": now, "exp": now + 4 * 3600, "nbf": now + 3600, "jti": "x" * 16,
               "win": ["2020-01-01", "2020-01-14"], "cty": [], "col": "green", "msk": "138****8000"}
    head = b64url(canonical_json({"alg": "EdDSA", "kid": kid})) + "." + b64url(canonical_json(payload))
    token = head + "." + b64url(private.sign(head.encode("ascii")))
    assert verify_token(token, ring, now=now).status == "malformed"
    assert verify_token(token, ring, now=now + 3600).status == "genuine"


def test_no_card_is_signed_without_the_holders_masked_number(app):
    """A card whose holder reads "***" cannot tell an employer whose it is: card_link refuses to sign one."""
    import pytest

    from miniapp.proofs import ProofError
    from tests.miniapp.snapshot_fixture import UIDS

    services = app.extensions["riskcard"]
    uid = UIDS["green"]
    with pytest.raises(ProofError, match="masked number"):
        services.card_link(uid, None)
    with pytest.raises(ProofError):
        services.card_link(uid, "")
    assert "/c/" in services.card_link(uid, "137****7000")  # with a mask it signs
