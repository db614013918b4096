"""Privacy, proven on a full demo run, and retention, proven with a clock.

One ``riskcard demo --no-serve --subscribers 300`` in a temp directory; then the card flow and the bot
(SMS webhook and web chat) are exercised for synthetic subscribers, in-process (logs captured by
caplog) and through gunicorn (its log captured). Then every output is searched for the raw numbers of
all synthetic subscribers (the ``msisdn`` column of the demo's pings feed): the snapshot, the state
store (with its WAL), the build cache, quarantine and reports, the keys and secrets, the logs. Raw
numbers may appear only in the raw feed files and in the demo's printed list of example numbers.

Retention: ``riskcard purge`` deletes codes, limits, memory, proofs, alerts, outbox messages and audit
entries past their lifetimes (miniapp/state/base.py), keeps younger ones, and records itself in the audit log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pandas as pd
import pytest
from twilio.request_validator import RequestValidator

from tests.miniapp.codes import last_code

ROOT = Path(__file__).resolve().parents[2]
AUTH_TOKEN = "privacy-auth-token-0123456789abcdef"
SUBSCRIBERS = 300
# Files under the demo directory that may hold raw numbers, and why.
ALLOWED = {
    "feeds": "the raw feed files themselves (synthetic pings and ground truth)",
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A full demo run: its directory, stdout and stderr."""
    demo_dir = tmp_path_factory.mktemp("privacy") / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKCARD_")}
    env["PYTHONPATH"] = str(ROOT)
    riskcard = Path(sys.executable).with_name("riskcard")
    cmd = [str(riskcard)] if riskcard.exists() else [sys.executable, "-c", "from miniapp.cli import cli; cli()"]
    proc = subprocess.run(cmd + ["demo", "--no-serve", "--dir", str(demo_dir), "--subscribers", str(SUBSCRIBERS)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and "NotImplementedError" in proc.stderr:
        pytest.xfail("the build is not wired end to end yet: " + proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"dir": demo_dir, "stdout": proc.stdout, "stderr": proc.stderr}


@pytest.fixture(scope="module")
def numbers(demo) -> list[str]:
    """The raw numbers of every synthetic subscriber, as the pings feed has them (E.164)."""
    from miniapp.demo import DemoSize  # noqa: F401 - the demo module must be importable

    feeds = demo["dir"] / "feeds"
    pings = feeds / "pings.parquet" if (feeds / "pings.parquet").exists() else feeds / "pings"
    msisdn = pd.read_parquet(pings, columns=["msisdn"])["msisdn"].astype(str).drop_duplicates()
    assert len(msisdn) >= SUBSCRIBERS * 0.9
    return sorted(msisdn)


def _national(e164: str) -> str:
    digits = re.sub(r"\D", "", e164)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def _leaks(text: str, numbers: list[str]) -> list[str]:
    """Numbers of ``numbers`` whose 11-digit national form appears in ``text``."""
    national = {_national(n) for n in numbers}
    return sorted({m for m in re.findall(r"\d{11,}", text) for n in national if n in m})


def _texts_of(path: Path) -> str:
    """Everything readable in a file: raw bytes as text, plus every value of a Parquet file or SQLite db."""
    raw = path.read_bytes()
    parts = [raw.decode("utf-8", "replace"), raw.decode("utf-16-le", "replace")]
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
        parts.append(df.astype(str).to_csv(index=False))
    elif raw.startswith(b"SQLite format 3\x00"):
        import sqlite3

        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                for row in conn.execute(f"SELECT * FROM [{table}]"):
                    parts.append(" ".join(map(str, row)))
        finally:
            conn.close()
    return "\n".join(parts)


def _signed(public_url: str, params: dict) -> tuple[bytes, dict]:
    sig = RequestValidator(AUTH_TOKEN).compute_signature(public_url + "/sms/inbound", params)
    return urlencode(params).encode(), {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}


def _sms_params(number: str, body: str, i: int) -> dict:
    return {"From": number, "To": "+14155550100", "Body": body, "MessageSid": "SM" + f"{i:032x}",
            "AccountSid": "AC" + "2" * 32, "NumMedia": "0"}


def _demo_env(demo_dir: Path, port: int) -> dict[str, str]:
    from miniapp.demo import demo_settings

    return {**demo_settings(demo_dir, port), "RISKCARD_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "RISKCARD_TWILIO_ACCOUNT_SID": "AC" + "2" * 32}


def _exercise_in_process(demo_dir: Path, numbers: list[str], caplog) -> None:
    """Card flow and bot for a few subscribers, through the app built on the demo directory."""
    from miniapp.app import create_app
    from tests.miniapp.qr_read import qr_url

    env = _demo_env(demo_dir, 8000)
    app = create_app({"TESTING": True, **{k[len("RISKCARD_"):]: v for k, v in env.items()}})
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with caplog.at_level(logging.DEBUG):
        for i, number in enumerate(numbers[:6]):
            client = app.test_client()
            page = client.get("/card/").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            national = _national(number)
            assert client.post("/card/code", data={"number": national, "csrf_token": token}).status_code == 302
            assert client.post("/card/verify", data={"code": "000000" if i % 2 else "12345x", "csrf_token": token}).status_code in (400, 429)
            code = last_code(app)
            assert client.post("/card/verify", data={"code": code, "csrf_token": token}).status_code == 302
            assert client.post("/card/consent", data={"agree": "yes", "csrf_token": token}).status_code == 302
            card = client.get("/card/show")
            assert card.status_code == 200
            html = card.get_data(as_text=True)
            assert national not in html and national[:3] + "****" + national[-4:] in html
            verify_url = qr_url(html)  # the QR code, decoded by zxing-cpp
            assert national not in verify_url
            verified = client.get("/v/" + verify_url.split("/v/", 1)[1])
            assert verified.status_code == 200 and national not in verified.get_data(as_text=True)
            chat = client.post("/chat/api", json={"session": f"privacy-chat-{i:08d}xx", "text": "行程"})
            assert chat.status_code == 200 and national not in chat.get_data(as_text=True)
            assert client.get("/outbox").status_code in (200, 404)
        client = app.test_client()
        for i, number in enumerate(numbers[6:16]):
            for j, text in enumerate(["帮助", "风险 jsgg", "行程", "同意", "TRIP", f"我的号码 {number}", "STOP", "START"]):
                body, headers = _signed(env["RISKCARD_PUBLIC_URL"], _sms_params(number, text, i * 10 + j))
                resp = client.post("/sms/inbound", data=body, headers=headers)
                assert resp.status_code == 200
        # malformed numbers and a wrong sender are logged, if at all, without the number
        client.post("/card/code", data={"number": numbers[0] + "9", "csrf_token": "x"})
        body, headers = _signed(env["RISKCARD_PUBLIC_URL"], _sms_params(numbers[0] + "99", "帮助", 999))
        client.post("/sms/inbound", data=body, headers=headers)


def _exercise_gunicorn(demo_dir: Path, numbers: list[str], tmp: Path) -> str:
    """The same, over HTTP, against gunicorn with the production config at debug log level."""
    from tests.miniapp.servers import Gunicorn, free_port

    port = free_port()
    env = {**_demo_env(demo_dir, port), "RISKCARD_GUNICORN_LOGLEVEL": "debug"}
    with Gunicorn(tmp, Path(env["RISKCARD_SNAPSHOT_DIR"]), workers=2, env=env, port=port) as g:
        base = f"http://127.0.0.1:{g.port}"
        for i, number in enumerate(numbers[16:22]):
            opener = build_opener(HTTPCookieProcessor(CookieJar()))
            page = opener.open(base + "/card/", timeout=10).read().decode()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            form = urlencode({"number": number, "csrf_token": token}).encode()
            try:  # 200 after the redirect to the code page, or 429 once the per-IP limit is reached
                status = opener.open(Request(base + "/card/code", data=form), timeout=10).status
            except HTTPError as exc:
                status = exc.code
            assert status in (200, 429)
            body, headers = _signed(base, _sms_params(number, "行程" if i % 2 else "风险 jsgg", 5000 + i))
            assert opener.open(Request(base + "/sms/inbound", data=body, headers=headers), timeout=10).status == 200
        time.sleep(0.5)
    return g.log.read_text(errors="replace")


def test_no_raw_number_in_any_output_of_a_full_demo_run(demo, numbers, caplog, tmp_path):
    demo_dir = demo["dir"]
    _exercise_in_process(demo_dir, numbers, caplog)
    gunicorn_log = _exercise_gunicorn(demo_dir, numbers, tmp_path)
    from click.testing import CliRunner

    from miniapp.cli import cli

    purge = CliRunner().invoke(cli, ["purge", "--state-url", "sqlite:///" + str(demo_dir / "state.db")])
    assert purge.exit_code == 0, purge.output

    # every file the run wrote, outside the allowed raw-feed and example-list files
    files = [p for p in demo_dir.rglob("*") if p.is_file()
             and not any(p.relative_to(demo_dir).parts[0] == allowed for allowed in ALLOWED)]
    kinds = {p.name.split(".")[-1] for p in files}
    assert any(p.name.endswith(".db") and "snapshot" in p.name for p in files), "the snapshot is searched"
    assert (demo_dir / "state.db").exists() and "parquet" in kinds and "json" in kinds
    leaks = {str(p.relative_to(demo_dir)): _leaks(_texts_of(p), numbers) for p in files}
    assert not {k: v for k, v in leaks.items() if v}, "raw numbers in output files"

    logs = {"caplog": "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records),
            "gunicorn": gunicorn_log, "demo stderr": demo["stderr"], "purge": purge.output}
    assert caplog.records and "GET /card/" in gunicorn_log  # the logs really were captured
    assert not {k: _leaks(v, numbers) for k, v in logs.items() if _leaks(v, numbers)}, "raw numbers in logs"

    # the one intended exception: the example numbers the demo prints for people to try
    printed = _leaks(demo["stdout"], numbers)
    listing = [line for line in demo["stdout"].splitlines() if _leaks(line, numbers)]
    assert printed and len(printed) <= 3
    assert all(re.fullmatch(r"\s+(green|yellow|orange)\s+\+?\d+", line) for line in listing), listing
    print(json.dumps({"subscribers": len(numbers), "files_searched": len(files),
                      "log_records_searched": len(caplog.records), "gunicorn_log_lines": gunicorn_log.count("\n"),
                      "raw_numbers_found": 0}))


# ---- retention -----------------------------------------------------------------------------------------


def test_purge_command_deletes_past_lifetimes_and_keeps_the_rest(tmp_path):
    from click.testing import CliRunner

    from miniapp.state import base as S
    from miniapp.cli import cli
    from miniapp.state import open_state

    url = "sqlite:///" + str(tmp_path / "state.db")
    now = time.time()
    old, young = "0123456789abcdef", "fedcba9876543210"

    def write(subject: str, clock_s: float) -> None:
        st = open_state(url, clock=lambda: clock_s)
        st.put_code(subject, "h" * 64, 600)
        st.hit(f"rl:{subject}", 5, 3600)
        st.remember(f"mem:{subject}", {"step": 1}, 3600)
        st.record_proof(f"jti-{subject}", subject, int(clock_s), int(clock_s) + 3600)
        st.claim_alert(f"alert-{subject}")
        st.record_message({"to": "138****8000", "body": "code", "subject": subject})
        st.audit("itinerary_viewed", subject, channel="web")
        st.close()

    write(old, now - S.AUDIT_RETENTION_S - 3600)  # older than every lifetime
    write(young, now - 60)  # a minute old: only what lives less than a minute may go
    result = CliRunner().invoke(cli, ["purge", "--state-url", url, "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output.strip().splitlines()[-1])
    assert counts == {"codes": 1, "code_failures": 0, "buckets": 1, "memory": 1, "proofs": 1, "alerts": 1,
                      "messages": 1, "audit": 1}
    st = open_state(url)
    try:
        audit = st.audit_log(limit=10)
        assert [e["subject"] for e in audit if e["event"] == "itinerary_viewed"] == [young]
        assert audit[0]["event"] == "purge" and audit[0]["deleted_audit"] == 1
        assert [m["subject"] for m in st.outbox()] == [young]
        assert st.recall(f"mem:{young}") == {"step": 1}
        assert not st.claim_alert(f"alert-{young}") and st.claim_alert(f"alert-{old}")
    finally:
        st.close()
    again = CliRunner().invoke(cli, ["purge", "--state-url", url])
    assert again.exit_code == 0 and "purged" in again.output


def test_purge_command_reports_an_unreachable_store_clearly():
    from click.testing import CliRunner

    from miniapp.cli import cli

    result = CliRunner().invoke(cli, ["purge", "--state-url", "redis://127.0.0.1:1/0"])
    assert result.exit_code == 1 and "purge failed / 清理失败" in result.output
    assert "Traceback" not in result.output


def test_documented_lifetimes_match_the_code():
    """docs/security.md states each lifetime that state.purge enforces."""
    from miniapp.state import base as S

    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    section = text.split("### Lifetimes", 1)[1].split("\n## ", 1)[0]
    for days in (S.AUDIT_RETENTION_S, S.MESSAGE_RETENTION_S, S.ALERT_RETENTION_S, S.PROOF_RECORD_GRACE_S):
        assert f"{days // 86400} day" in section, days // 86400
    assert "10 minutes" in section and "riskcard purge" in section
