"""Schemathesis against /api/v1/openapi.json, through the WSGI app in-process.

Every operation of the OpenAPI document gets generated requests (valid ones, and with
``GenerationMode.all`` invalid ones too); every response must be a non-5xx answer that matches the
document (status code declared, content type, JSON schema). The number of examples is bounded so the
file runs in well under a minute; ``pytest --hypothesis-show-statistics`` prints how many were tried.
"""

from __future__ import annotations

import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from miniapp.openapi import openapi_document

MAX_EXAMPLES = 60

load_all_checks()
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    from miniapp.app import create_app
    from miniapp.proofs import generate_key
    from tests.miniapp.snapshot_fixture import TEST_KEY, publish_fixture

    from tests.miniapp.crowd.kit import make_city, refresh

    tmp = tmp_path_factory.mktemp("fuzz")
    snapshots = publish_fixture(tmp / "snapshots", extra_communities=40)
    (tmp / "keys").mkdir()
    generate_key(tmp / "keys")
    now_s = int(time.time()) // 900 * 900
    _, crowd_paths, _ = make_city(tmp / "crowd-city", now_s=now_s, days=36, flat=True)
    refresh(crowd_paths, now_s=now_s)  # the market operations answer from a real crowd store
    return create_app({
        "CROWD_DIR": str(crowd_paths["crowd"]),
        "TESTING": True,
        "SECRET_KEY": "fuzz-secret-" + "x" * 32,
        "PSEUDONYM_KEY": TEST_KEY.hex(),
        "SNAPSHOT_DIR": str(snapshots),
        "STATE_URL": "sqlite:///" + str(tmp / "state.db"),
        "SIGNING_KEY_DIR": str(tmp / "keys"),
        "PUBLIC_URL": "https://riskcard.test",
    })


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


# Schemathesis's own pytest integration (schema.parametrize) does not run under pytest 9 yet, so each
# operation's strategy is driven by hypothesis directly; the checks are the same.
# Negative (schema-violating) requests exist only for operations that take parameters.
CASES = [(path, mode) for path, item in sorted(openapi_document()["paths"].items())
         for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode == GenerationMode.POSITIVE or item["get"].get("parameters")]


@pytest.mark.parametrize(("path", "mode"), CASES, ids=[f"{p}-{m}" for p, m in CASES])
def test_api_conforms_to_its_document(api_schema, path, mode):
    """No 500, no undeclared status, no response that violates the schema; invalid input refused."""
    operation = api_schema[path]["GET"]
    statuses: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call()
        statuses.append(response.status_code)
        case.validate_response(response)  # every check schemathesis has (load_all_checks)

    run()
    print(f"schemathesis {mode} GET {path}: {len(statuses)} requests, statuses {sorted(set(statuses))}")
    assert statuses, "hypothesis generated no request"
    assert max(statuses) < 500


def test_document_is_served_and_lists_every_api_route(fuzz_app):
    doc = fuzz_app.test_client().get("/api/v1/openapi.json").get_json()
    routes = {r.rule.replace("<int:", "{").replace(">", "}") for r in fuzz_app.url_map.iter_rules()
              if r.rule.startswith("/api/v1/") and r.rule != "/api/v1/openapi.json"}
    assert routes == set(doc["paths"]), "every API route is documented, and nothing else"


def test_negative_data_is_rejected(fuzz_app):
    """Requests that break the document (bad ids, limits, dates) get a 4xx, never a 200 or a 500."""
    client = fuzz_app.test_client()
    for url in ["/api/v1/communities?q=bbt&limit=0", "/api/v1/communities?q=bbt&limit=51",
                "/api/v1/communities?q=bbt&limit=-1", "/api/v1/communities", "/api/v1/communities?q=",
                "/api/v1/same-trip?date=2020-13-45&number=G1", "/api/v1/same-trip?date=2020-01-20&number=%00",
                "/api/v1/communities/-1", "/api/v1/cities/abc", "/api/v1/communities/99999999999999999999999"]:
        resp = client.get(url)
        assert 400 <= resp.status_code < 500, (url, resp.status_code)
        assert resp.get_json()["error"]["status"] == resp.status_code



@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/cities/{city_code}", {"path_parameters": {"city_code": 420100}}),
    ("/api/v1/cities/{city_code}", {"path_parameters": {"city_code": 440300}}),
    ("/api/v1/communities/{community_id}", {"path_parameters": {"community_id": 1}}),
    ("/api/v1/communities/{community_id}", {"path_parameters": {"community_id": 9}}),  # no grade data
    ("/api/v1/communities", {"query": {"q": "bbt", "limit": 50}}),
    ("/api/v1/same-trip", {"query": {"date": "2020-01-20", "number": "G1234"}}),
])
def test_real_records_conform_to_the_document(api_schema, path, params):
    """Random ids rarely hit a record, so the 200 answers of real ones are checked here."""
    case = api_schema[path]["GET"].Case(**params)
    response = case.call()
    assert response.status_code == 200
    case.validate_response(response, checks=CHECKS)
