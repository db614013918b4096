"""Exposure alerts through twilio's own Client, pointed at a local stub of the Messages API."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from bot import alerts as A
from bot.replies import sms_segments

SID = "AC" + "ab" * 16
TOKEN = "stub-token-0123456789"
DAY_2PM = int(dt.datetime(2020, 2, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
NIGHT_11PM = DAY_2PM + 9 * 3600


class MessagesStub:
    """Mimics POST /2010-04-01/Accounts/{sid}/Messages.json. ``script[to]`` lists what each call gets:
    ``ok``, ``500``, ``503``, ``429``, ``timeout``, ``21610`` or ``21211`` (then ``ok`` forever)."""

    def __init__(self, delay_s: float = 1.5):
        self.script: dict[str, list[str]] = {}
        self.requests: list[dict] = []
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.n = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                with stub.lock:
                    stub.requests.append({"path": self.path, "form": form, "auth": self.headers.get("Authorization")})
                    plan = stub.script.get(form.get("To", ""), [])
                    action = plan.pop(0) if plan else "ok"
                    stub.n += 1
                    n = stub.n
                expected_auth = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
                if self.path != f"/2010-04-01/Accounts/{SID}/Messages.json" or self.headers.get("Authorization") != expected_auth:
                    return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if action == "timeout":
                    time.sleep(stub.delay_s)
                    return self._json(201, self._message(form, n))
                if action in ("500", "503", "429"):
                    return self._json(int(action), {"code": 20500, "message": "Internal error", "status": int(action)})
                if action in ("21610", "21211"):
                    msg = "Attempt to send to unsubscribed recipient" if action == "21610" else "Invalid 'To' number"
                    return self._json(400, {"code": int(action), "message": msg, "status": 400,
                                            "more_info": f"https://www.twilio.com/docs/errors/{action}"})
                return self._json(201, self._message(form, n))

            def _message(self, form, n):
                return {"sid": "SM" + f"{n:x}".rjust(32, "f"), "account_sid": SID, "to": form.get("To"),
                        "from": form.get("From"), "body": form.get("Body"), "status": "queued",
                        "num_segments": "2", "direction": "outbound-api",
                        "uri": f"/2010-04-01/Accounts/{SID}/Messages/SM{n}.json"}

            def _json(self, status, payload):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def now():
    return [DAY_2PM]


@pytest.fixture
def state(tmp_path, now):
    from miniapp.state import open_state

    st = open_state("sqlite:///" + str(tmp_path / "alerts.db"), clock=lambda: now[0])
    st.now = now
    yield st
    st.close()


@pytest.fixture
def stub():
    s = MessagesStub()
    yield s
    s.close()


@pytest.fixture
def client(stub):
    c = A.make_client({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_API_BASE": stub.base},
                      timeout_s=0.5)
    yield c
    c.http_client.session.close()


@pytest.fixture
def sender(client, kit):
    return A.TwilioSender(client, "+14155550100", kit.PUBLIC_URL + "/sms/status")


def run(exposures, state, sender, kit, clock=DAY_2PM, **kw):
    sleeps: list[float] = []
    policy = kw.pop("policy", A.AlertPolicy())
    state.now[0] = clock  # the state store's clock, which send_alerts uses too
    report = A.send_alerts(exposures, state=state, sender=sender, pseudonym_key=kit.PSEUDONYM_KEY,
                           link=kit.PUBLIC_URL + "/card", policy=policy, sleep=sleeps.append, **kw)
    return report, sleeps


def exposure(kit, n, case="C1", lang="zh"):
    return A.Exposure(f"companion:{case}:{kit.subject_of(kit.phone(n))}", kit.phone(n), lang)


def test_sends_through_twilio_client_with_status_callback(stub, sender, state, kit):
    report, _ = run([exposure(kit, 1), exposure(kit, 2, lang="en")], state, sender, kit)
    assert report["counts"] == {"sent": 2}
    [zh, en] = stub.requests
    assert zh["form"]["To"] == kit.phone(1) and zh["form"]["From"] == "+14155550100"
    assert zh["form"]["StatusCallback"] == kit.PUBLIC_URL + "/sms/status"
    assert "时空伴随" in zh["form"]["Body"] and sms_segments(zh["form"]["Body"]) <= 2
    assert "confirmed case" in en["form"]["Body"] and sms_segments(en["form"]["Body"]) <= 2
    out = state.outbox()
    assert {m["to"] for m in out} == {kit.subject_of(kit.phone(1)), kit.subject_of(kit.phone(2))}
    assert all(m["sid"].startswith("SM") and m["status"] == "queued" for m in out)
    assert [e["event"] for e in state.audit_log()].count("alert_sent") == 2
    # no raw number in what is stored or reported
    dump = json.dumps([out, state.audit_log(), report], ensure_ascii=False)
    assert kit.phone(1)[3:] not in dump and kit.phone(2)[3:] not in dump


def test_never_twice_for_the_same_exposure(stub, sender, state, kit):
    run([exposure(kit, 1)], state, sender, kit)
    report, _ = run([exposure(kit, 1), exposure(kit, 1)], state, sender, kit, clock=DAY_2PM + 86400 * 2)
    assert report["counts"] == {"duplicate": 2}
    assert len(stub.requests) == 1
    # another case is another exposure
    report, _ = run([exposure(kit, 1, case="C2")], state, sender, kit, clock=DAY_2PM + 86400 * 2)
    assert report["counts"] == {"sent": 1}


def test_opted_out_error_21610_is_recorded_and_not_retried(stub, sender, state, kit):
    stub.script[kit.phone(3)] = ["21610"]
    report, sleeps = run([exposure(kit, 3)], state, sender, kit)
    assert report["counts"] == {"opted_out": 1} and sleeps == []
    assert len(stub.requests) == 1
    assert state.is_opted_out(kit.subject_of(kit.phone(3)))
    assert state.outbox()[0]["error_code"] == 21610 and state.outbox()[0]["status"] == "failed"
    # a later exposure of the same person is skipped before any request
    report, _ = run([exposure(kit, 3, case="C9")], state, sender, kit)
    assert report["counts"] == {"opted_out": 1} and len(stub.requests) == 1


def test_opted_out_in_state_is_never_sent_to(stub, sender, state, kit):
    state.set_opt_out(kit.subject_of(kit.phone(4)), True)
    report, _ = run([exposure(kit, 4)], state, sender, kit)
    assert report["counts"] == {"opted_out": 1} and stub.requests == []


def test_5xx_and_429_are_retried_with_backoff(stub, sender, state, kit):
    stub.script[kit.phone(5)] = ["500", "429", "503"]
    report, sleeps = run([exposure(kit, 5)], state, sender, kit)
    assert report["counts"] == {"sent": 1} and report["details"][0]["attempts"] == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(stub.requests) == 4


def test_timeout_is_retried(stub, sender, state, kit):
    stub.script[kit.phone(6)] = ["timeout"]
    report, sleeps = run([exposure(kit, 6)], state, sender, kit)
    assert report["counts"] == {"sent": 1} and sleeps == [1.0]
    assert report["details"][0]["attempts"] == 2


def test_persistent_failure_is_recorded_and_not_resent(stub, sender, state, kit):
    stub.script[kit.phone(7)] = ["500"] * 4
    report, sleeps = run([exposure(kit, 7)], state, sender, kit)
    assert report["counts"] == {"failed": 1} and len(sleeps) == 3
    assert state.outbox()[0]["status"] == "failed"
    failed = [e for e in state.audit_log() if e["event"] == "alert_failed"]
    assert failed and failed[0]["attempts"] == 4 and failed[0]["reason"] == "retry"
    report, _ = run([exposure(kit, 7)], state, sender, kit, clock=DAY_2PM + 86400 * 2)
    assert report["counts"] == {"duplicate": 1} and len(stub.requests) == 4  # at most once


def test_other_4xx_is_not_retried(stub, sender, state, kit):
    stub.script[kit.phone(8)] = ["21211"]
    report, sleeps = run([exposure(kit, 8)], state, sender, kit)
    assert report["counts"] == {"failed": 1} and sleeps == [] and len(stub.requests) == 1
    assert state.outbox()[0]["error_code"] == 21211


def test_quiet_hours_send_nothing_and_claim_nothing(stub, sender, state, kit):
    report, _ = run([exposure(kit, 1), exposure(kit, 2)], state, sender, kit, clock=NIGHT_11PM)
    assert report["counts"] == {"quiet_hours": 2} and stub.requests == []
    report, _ = run([exposure(kit, 1), exposure(kit, 2)], state, sender, kit, clock=NIGHT_11PM + 10 * 3600)
    assert report["counts"] == {"sent": 2}


def test_rate_limit_defers_the_rest_to_the_next_run(stub, sender, state, kit):
    policy = A.AlertPolicy(per_minute=2)
    exps = [exposure(kit, n) for n in range(10, 15)]
    report, _ = run(exps, state, sender, kit, policy=policy)
    assert report["counts"] == {"sent": 2, "rate_limited": 3}
    report, _ = run(exps, state, sender, kit, clock=DAY_2PM + 61, policy=policy)
    assert report["counts"] == {"duplicate": 2, "sent": 2, "rate_limited": 1}
    assert len(stub.requests) == 4


def test_dry_run_sends_claims_and_records_nothing(stub, sender, state, kit):
    report, _ = run([exposure(kit, 1)], state, None, kit, dry_run=True)
    assert report["counts"] == {"would_send": 1} and report["dry_run"]
    assert stub.requests == [] and state.outbox() == []
    report, _ = run([exposure(kit, 1)], state, sender, kit)
    assert report["counts"] == {"sent": 1}


def test_opt_in_basis_needs_consent(stub, sender, state, kit):
    policy = A.AlertPolicy(basis="opt_in")
    state.set_consent(kit.subject_of(kit.phone(2)), A.ALERT_CONSENT_SCOPE, True)
    report, _ = run([exposure(kit, 1), exposure(kit, 2)], state, sender, kit, policy=policy)
    assert report["counts"] == {"no_consent": 1, "sent": 1}
    with pytest.raises(ValueError):
        A.AlertPolicy(basis="whim")


def test_exposures_from_order_keep_only_companions(kit, store):
    rows = [{"msisdn": kit.phone(2)[3:], "case_id": "C7"},          # companion (orange)
            {"msisdn": kit.phone(1), "case_id": "C7", "lang": "en"},  # in snapshot, not a companion
            {"msisdn": kit.phone(99)},                                # unknown to the snapshot
            {"msisdn": "not a number"}]
    exps, skipped = A.exposures_from_order(rows, store, kit.PSEUDONYM_KEY)
    assert [e.key for e in exps] == [f"companion:C7:{kit.subject_of(kit.phone(2))}"]
    assert exps[0].to == kit.phone(2)
    assert skipped == {"not_companion": 2, "bad_number": 1}


def test_cli_dry_run(tmp_path, kit, store, monkeypatch):
    from click.testing import CliRunner

    import miniapp.snapshot
    from miniapp.cli import cli

    order = tmp_path / "order.csv"
    order.write_text(f"msisdn,case_id\n{kit.phone(2)},C1\n{kit.phone(1)},C1\nbad,C1\n", encoding="utf-8")
    monkeypatch.setattr(miniapp.snapshot, "open_current", lambda d, *a, **k: (lambda: store))
    env = {"RISKCARD_PSEUDONYM_KEY": kit.PSEUDONYM_KEY.hex(), "RISKCARD_STATE_URL": f"sqlite:///{tmp_path}/s.db"}
    result = CliRunner().invoke(cli, ["alerts", "send", "--order", str(order), "--dry-run", "--details"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["listed"] == 3 and summary["skipped"] == {"not_companion": 1, "bad_number": 1}
    assert summary.get("would_send", 0) + summary.get("quiet_hours", 0) == 1
    assert kit.phone(2)[3:] not in result.output
