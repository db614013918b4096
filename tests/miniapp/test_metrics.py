"""Prometheus metrics: counted where things happen, served only by the internal listener
(``miniapp.scrape``), added up over gunicorn's workers; deploy/alerts.yml names only metrics that exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from miniapp.scrape import exposition, write_build_metrics
from tests.miniapp.codes import last_code
from tests.miniapp.servers import Gunicorn, free_port, http_get, scrape_metrics
from tests.miniapp.snapshot_fixture import PHONES, publish_fixture

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "alerts.yml"
PROMQL_WORDS = {"sum", "rate", "increase", "by", "without", "and", "or", "unless", "on", "ignoring", "max", "min",
                "avg", "count", "abs", "time", "group_left", "group_right", "bool"}


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, from Prometheus text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_counted_where_it_happens(app, client):
    config = app.config
    before = exposition(config).decode()
    token = _csrf(client.get("/card/").get_data(as_text=True))
    assert client.post("/card/code", data={"number": PHONES["green"], "csrf_token": token}).status_code == 302
    assert client.post("/card/verify", data={"code": last_code(app), "csrf_token": token}).status_code == 302
    assert client.post("/card/code", data={"number": "+1 212 555 0100", "csrf_token": token}).status_code >= 400
    assert client.get("/v/not-a-token").status_code in (200, 400)  # a verdict (forged or malformed) is shown
    assert client.post("/sms/inbound", data={"From": "+8613700137000", "Body": "hi"}).status_code == 403
    for _ in range(2):
        assert client.get("/api/v1/communities/2").status_code == 200
    assert client.get("/community/999999").status_code == 404
    after = exposition(config).decode()

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("riskcard_otp_requests_total", reason="sent") == 1
    assert sum(v for (n, labels), v in samples(after).items() if n == "riskcard_otp_requests_total"
               and dict(labels)["reason"] != "sent") > sum(v for (n, labels), v in samples(before).items()
                                                          if n == "riskcard_otp_requests_total"
                                                          and dict(labels)["reason"] != "sent")
    assert delta("riskcard_otp_checks_total", result="ok") == 1
    assert sum(v for (n, _), v in samples(after).items() if n == "riskcard_verify_total") > \
        sum(v for (n, _), v in samples(before).items() if n == "riskcard_verify_total")
    assert delta("riskcard_webhook_events_total", event="forged") == 1
    assert delta("riskcard_response_cache_total", result="hit") >= 1
    assert delta("riskcard_response_cache_total", result="miss") >= 1
    assert delta("riskcard_http_requests_total", status="404") == 1
    assert delta("riskcard_errors_total", status="404") == 1
    assert delta("riskcard_http_requests_total", status="200") >= 3
    # looked at when scraped: the code just sent spent one of each budget
    for window in ("1h", "24h"):
        limit = value(after, "riskcard_sms_budget_limit", window=window)
        assert value(after, "riskcard_sms_budget_remaining", window=window) == limit - 1
    assert value(after, "riskcard_state_up") == 1 and value(after, "riskcard_ready") == 1
    assert value(after, "riskcard_snapshot_readable") == 1
    assert value(after, "riskcard_snapshot_age_seconds") > 0
    info = [labels for (n, labels), _ in samples(after).items() if n == "riskcard_snapshot_info"]
    sha = app.extensions["riskcard"].store().meta()["sha256"]
    assert info and dict(info[0])["sha256"] == sha


def test_budget_spent_shows_zero_left(app_config):
    from miniapp.app import create_app

    app = create_app({**app_config, "OTP_HOURLY_BUDGET": 1})
    client = app.test_client()
    token = _csrf(client.get("/card/").get_data(as_text=True))
    client.post("/card/code", data={"number": PHONES["green"], "csrf_token": token})
    text = exposition(app.config).decode()
    assert value(text, "riskcard_sms_budget_remaining", window="1h") == 0
    assert value(text, "riskcard_sms_budget_limit", window="1h") == 1


def test_state_down_and_no_snapshot_are_zeros(tmp_path):
    text = exposition({"SNAPSHOT_DIR": str(tmp_path), "STATE_URL": "redis://127.0.0.1:1/0"}).decode()
    assert value(text, "riskcard_state_up") == 0 and value(text, "riskcard_ready") == 0
    assert value(text, "riskcard_snapshot_readable") == 0
    assert not any(n == "riskcard_snapshot_age_seconds" for n, _ in samples(text))


def test_build_step_durations_are_exported(tmp_path):
    snaps = publish_fixture(tmp_path / "snapshots")
    write_build_metrics(snaps, {"timings_s": {"read feeds": 1.25, "grades": 0.5}, "total_s": 2.0})
    text = exposition({"SNAPSHOT_DIR": str(snaps), "STATE_URL": "sqlite:///" + str(tmp_path / "s.db")}).decode()
    assert value(text, "riskcard_build_step_duration_seconds", step="read feeds") == 1.25
    assert value(text, "riskcard_build_duration_seconds") == 2.0
    assert value(text, "riskcard_build_last_success_timestamp_seconds") > 1.7e9


def _alert_metric_names() -> set[str]:
    rules = yaml.safe_load(ALERTS.read_text())["groups"][0]["rules"]
    names = set()
    for rule in rules:
        expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\b(by|without) *\([^)]*\)", "", str(rule["expr"]))
        words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))
        assert words <= PROMQL_WORDS | {w for w in words if w.startswith("riskcard_")}, (rule["alert"], words)
        names |= {w for w in words if w.startswith("riskcard_")}
    return names


def test_alert_rules_are_well_formed():
    doc = yaml.safe_load(ALERTS.read_text())
    rules = doc["groups"][0]["rules"]
    alerts = {r["alert"] for r in rules}
    assert {"RiskcardSnapshotStale", "RiskcardSmsBudgetNearCap", "RiskcardHighErrorRate", "RiskcardStateStoreDown",
            "RiskcardNotReady"} <= alerts
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("page", "warn") and rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule
    stale = next(r for r in rules if r["alert"] == "RiskcardSnapshotStale")["expr"]
    assert "riskcard_snapshot_age_seconds > 36 * 3600" in stale


def test_under_gunicorn_summed_over_workers_internal_port_only_alerts_name_real_metrics(tmp_path):
    snaps = publish_fixture(tmp_path / "snapshots")
    write_build_metrics(snaps, {"timings_s": {"grades": 0.5}, "total_s": 1.0})
    port = free_port()
    with Gunicorn(tmp_path, snaps, workers=2, threads=2, env={"RISKCARD_METRICS_PORT": str(port)}) as server:
        n = 60
        for i in range(n):
            assert http_get(server.port, f"/api/v1/communities/{1 + i % 9}")[0] in (200, 404)
        assert http_get(server.port, "/metrics")[0] == 404  # never on the public port
        http_get(server.port, "/nope")
        status, body = scrape_metrics(port)
        assert status == 200
        text = body.decode()
        assert http_get(port, "/")[0] == 404
        listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        assert f"0100007F:{port:04X}" in listening  # bound to loopback only
        assert not any(a.endswith(f":{port:04X}") and not a.startswith("0100007F") for a in listening)
    found = samples(text)
    lookups = sum(v for (name, labels), v in found.items() if name == "riskcard_http_requests_total"
                  and dict(labels)["status"] in ("200", "404"))
    assert lookups >= n + 1  # every look-up (and the readiness polls), from both workers, added up
    assert sum(v for (name, _), v in found.items() if name == "riskcard_response_cache_total") >= n
    assert value(text, "riskcard_ready") == 1 and value(text, "riskcard_state_up") == 1
    assert value(text, "riskcard_build_step_duration_seconds", step="grades") == 0.5
    exported = {name for name, _ in found} | {f.name for f in text_string_to_metric_families(text)}
    exported |= {f.name + "_total" for f in text_string_to_metric_families(text) if f.type == "counter"}
    # every counter family is declared even before it is counted: compare with the names the app defines
    from miniapp import metrics

    declared = {c._name + "_total" for c in vars(metrics).values() if hasattr(c, "_name") and hasattr(c, "inc")}
    missing = _alert_metric_names() - exported - declared
    assert missing == set(), missing
    assert _alert_metric_names() - declared <= exported  # the gauges are served live
