"""One-time codes: NIST SP 800-63B rules, request limits, only hashes stored."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from miniapp import otp
from miniapp.state import base as S, open_state

SECRET = b"test-secret-0123456789abcdef"
NUMBER = "+86" + "138" + "0013" + "8000"


def cn_number(i: int, block: str = "1380013") -> str:
    return f"+86{block}{i:04d}"


def test_codes_are_six_uniform_digits():
    codes = [otp.generate_code() for _ in range(3000)]
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in codes)
    assert any(c.startswith("0") for c in codes)  # leading zeros kept
    assert len(set(codes)) > 2900
    digits = "".join(codes)
    counts = [digits.count(str(d)) for d in range(10)]
    assert max(counts) < 1.25 * min(counts)


def test_request_then_verify_once(store):
    code, reason = otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    assert reason == "sent"
    assert otp.verify_code(store, NUMBER, code, secret=SECRET) == "ok"
    assert otp.verify_code(store, NUMBER, code, secret=SECRET) == "missing"  # replay


def test_code_expires_after_ten_minutes(store, clock):
    code, _ = otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    clock.advance(otp.CODE_TTL_S)
    assert otp.verify_code(store, NUMBER, code, secret=SECRET) == "expired"


def test_new_request_replaces_code(store):
    first, _ = otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    second, _ = otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    if first != second:
        assert otp.verify_code(store, NUMBER, first, secret=SECRET) == "wrong"
    assert otp.verify_code(store, NUMBER, second, secret=SECRET) == "ok"


def test_code_is_bound_to_number_and_secret(store):
    code, _ = otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    other = cn_number(1, "1390000")
    otp.request_code(store, other, "203.0.113.1", secret=SECRET)
    assert otp.verify_code(store, NUMBER, code, secret=b"another-secret-0123456789",
                           pseudonym_key=SECRET) == "wrong"
    assert otp.verify_code(store, other, code, secret=SECRET) in {"wrong", "ok"}  # 1e-6 chance of equal codes
    assert otp.verify_code(store, NUMBER, code, secret=SECRET) == "ok"


def test_full_width_and_spaced_codes_accepted(store):
    code, _ = otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    typed = " ".join(chr(ord(c) + 0xFEE0) for c in code)  # full-width digits with spaces
    assert otp.verify_code(store, NUMBER, typed, secret=SECRET) == "ok"


def test_per_number_limit(store):
    reasons = [otp.request_code(store, NUMBER, f"203.0.113.{i}", secret=SECRET)[1] for i in range(5)]
    assert reasons == ["sent", "sent", "sent", "rate_limited_number", "rate_limited_number"]


def test_per_ip_limit(store):
    reasons = [otp.request_code(store, cn_number(i, "1391234"), "198.51.100.7", secret=SECRET)[1]
               for i in range(12)]
    assert reasons.count("sent") == 10 and reasons[-1] == "rate_limited_ip"
    assert otp.request_code(store, cn_number(99, "1391234"), "198.51.100.8", secret=SECRET)[1] == "sent"


def test_per_prefix_limit_stops_sms_pumping(store):
    # a fraudster walks one number range from many addresses
    reasons = [otp.request_code(store, cn_number(i), f"10.0.{i}.1", secret=SECRET)[1] for i in range(22)]
    assert reasons.count("sent") == 20 and reasons[-1] == "rate_limited_prefix"
    assert otp.request_code(store, cn_number(1, "1370000"), "10.9.9.9", secret=SECRET)[1] == "sent"


def test_limits_reset_with_their_window(store, clock):
    for _ in range(3):
        otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    assert otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)[1] == "rate_limited_number"
    clock.advance(15 * 60)
    assert otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)[1] == "sent"


def test_lock_after_100_failures(store, clock):
    code, _ = otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    results = []
    while len(results) < S.MAX_CODE_FAILURES + 1:
        r = otp.verify_code(store, NUMBER, wrong, secret=SECRET, ip="203.0.113.1")
        if r == "rate_limited":
            clock.advance(15 * 60)  # per-number check limit: wait out the window
            store.put_code(otp.subject_of(NUMBER, SECRET), otp.hash_code(code, otp.subject_of(NUMBER, SECRET),
                                                                          secret=SECRET), otp.CODE_TTL_S)
            continue
        results.append(r)
    assert results[:S.MAX_CODE_FAILURES] == ["wrong"] * S.MAX_CODE_FAILURES
    assert results[-1] == "locked"
    assert otp.verify_code(store, NUMBER, code, secret=SECRET) == "locked"
    assert otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET) == (None, "locked")
    store.unlock(otp.subject_of(NUMBER, SECRET))
    assert otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)[1] == "sent"


def test_check_rate_limit_per_number(store):
    otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    results = [otp.verify_code(store, NUMBER, "000000", secret=SECRET) for _ in range(12)]
    assert "rate_limited" in results and results.index("rate_limited") == 10


def test_only_hashes_and_pseudonyms_stored(tmp_path, clock):
    path = tmp_path / "s.db"
    st = open_state(f"sqlite:///{path}", clock=clock)
    code, _ = otp.request_code(st, NUMBER, "203.0.113.1", secret=SECRET)
    row = st._read("SELECT subject, code_hash FROM codes")[0]
    assert row["code_hash"] != code and code not in row["code_hash"]
    assert row["subject"] == otp.subject_of(NUMBER, SECRET)
    otp.verify_code(st, NUMBER, "000001" if code != "000001" else "000002", secret=SECRET)
    st.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert NUMBER[3:].encode() not in blob and NUMBER.encode() not in blob


def test_audit_records_requests_without_numbers(store):
    otp.request_code(store, NUMBER, "203.0.113.1", secret=SECRET)
    entry = store.audit_log()[0]
    assert entry["event"] == "otp.request" and entry["result"] == "sent"
    assert entry["subject"] == otp.subject_of(NUMBER, SECRET)
    assert NUMBER[3:] not in repr(store.audit_log())


@pytest.mark.parametrize("bad", ["13800138000", "+86 138 0013 8000", "", "+8612345", None, 8613800138000])
def test_bad_numbers(store, bad):
    assert otp.request_code(store, bad, "203.0.113.1", secret=SECRET) == (None, "invalid_number")
    assert otp.verify_code(store, bad, "123456", secret=SECRET) == "invalid"


def test_short_secret_refused(store):
    with pytest.raises(ValueError):
        otp.request_code(store, NUMBER, "203.0.113.1", secret=b"short")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(typed=st.one_of(st.text(max_size=60), st.binary(max_size=10), st.integers(), st.none()))
def test_fuzz_typed_codes_never_crash(tmp_path, typed):
    st_ = open_state("sqlite:///:memory:", clock=lambda: 1_600_000_000)
    try:
        result = otp.verify_code(st_, NUMBER, typed, secret=SECRET)
        assert result in otp.VERIFY_RESULTS
        assert result in {"invalid", "missing"}
    finally:
        st_.close()
