"""Phone numbers: normalisation, masking, keyed pseudonyms (forecast/phones.py)."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.phones import (
    PhoneNumberError,
    check_key,
    mask_msisdn,
    normalise_msisdn,
    pseudonym_to_uid,
    pseudonymise,
    pseudonymise_series,
    pseudonymise_uniques,
    uid_to_pseudonym,
    uids_to_pseudonyms,
)

KEY = b"test-key-0123456789abcdef"


@pytest.mark.parametrize(
    "text",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "(138) 0013 8000",
        "+8613800138000",
        "+86 138 0013 8000",
        "008613800138000",
        "8613800138000",
        "＋８６ １３８ ００１３ ８０００",  # full-width, as typed on a Chinese keyboard
        "\u00a013800138000\u00a0",
    ],
)
def test_chinese_mobile_forms(text):
    assert normalise_msisdn(text) == "+8613800138000"


@pytest.mark.parametrize(
    "text",
    ["", "12345", "12800138000", "1380013800", "138001380000", "+86 12800138000", "+8610123", "abc", "+", "00", "138OO138000", "+86١٣٨٠٠١٣٨٠٠٠", "1" * 41],
)
def test_rejects(text):
    with pytest.raises(PhoneNumberError):
        normalise_msisdn(text)


def test_non_text_is_rejected():
    with pytest.raises(PhoneNumberError):
        normalise_msisdn(13800138000)  # type: ignore[arg-type]


def test_international_numbers():
    assert normalise_msisdn("+1 (415) 555-0100") == "+14155550100"
    assert normalise_msisdn("0044 20 7946 0958") == "+442079460958"
    with pytest.raises(PhoneNumberError):
        normalise_msisdn("+1234567")  # 7 digits: too short
    with pytest.raises(PhoneNumberError):
        normalise_msisdn("+0123456789")


def test_other_default_country():
    assert normalise_msisdn("020 7946 0958", default_country="44") == "+442079460958"
    with pytest.raises(PhoneNumberError):
        normalise_msisdn("0", default_country="1")  # was '+1' before the length check


def test_mask():
    assert mask_msisdn("+8613800138000") == "138****8000"
    assert mask_msisdn("+14155550100") == "+14***00"


@given(st.text(alphabet="0123456789", min_size=8, max_size=15).filter(lambda d: d[0] != "0" and not d.startswith("86")))
def test_mask_always_hides_digits(digits):
    masked = mask_msisdn("+" + digits)
    assert "***" in masked
    assert sum(ch.isdigit() for ch in masked) <= (2 * len(digits)) // 5  # at most 40 % of the digits shown


def test_pseudonym_is_hmac_sha256_first_8_bytes():
    expected = int.from_bytes(hmac.new(KEY, b"+8613800138000", hashlib.sha256).digest()[:8], "big", signed=True)
    assert pseudonymise("+8613800138000", KEY) == expected
    assert pseudonymise("+8613800138000", KEY) != pseudonymise("+8613800138000", b"another-key-0123456789")


def test_short_key_rejected():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        check_key(b"short")
    with pytest.raises(ValueError):
        pseudonymise("+8613800138000", "a-text-key-is-not-bytes")  # type: ignore[arg-type]


@given(st.integers(-(2**63), 2**63 - 1))
def test_pseudonym_text_round_trip(uid):
    text = uid_to_pseudonym(uid)
    assert len(text) == 16 and pseudonym_to_uid(text) == uid
    assert uids_to_pseudonyms(np.array([uid]))[0] == text


def test_pseudonym_to_uid_rejects_bad_text():
    with pytest.raises(ValueError):
        pseudonym_to_uid("abc")
    with pytest.raises(ValueError):
        pseudonym_to_uid("zzzzzzzzzzzzzzzz")


def test_uids_to_pseudonyms_empty():
    assert len(uids_to_pseudonyms(np.array([], dtype=np.int64))) == 0


def test_pseudonymise_series_matches_scalar_and_keeps_index():
    s = pd.Series(["13800138000", "+86 138 0013 8000", "bad", None, "15000150000"], index=[10, 11, 12, 13, 14])
    uid, err = pseudonymise_series(s, KEY)
    assert list(uid.index) == list(s.index) and uid.dtype == np.int64
    assert uid[10] == uid[11] == pseudonymise("+8613800138000", KEY)
    assert uid[14] == pseudonymise("+8615000150000", KEY)
    assert (err[[10, 11, 14]] == "").all() and (err[[12, 13]] != "").all()
    assert s.tolist()[0] == "13800138000"  # input untouched


def test_fast_path_forms_hash_like_the_scalar_path():
    """The fast path (bare 11 digits, +86 and 11 digits, padded) and the general path agree."""
    values = np.array(["13800138000", "+8613800138000", "  +8613800138000 ", "8613800138000", "0086 138 0013 8000",
                       "+14155550100", "+8612345678901", "", "x"], dtype=object)
    uid, err = pseudonymise_uniques(values, KEY)
    want = pseudonymise("+8613800138000", KEY)
    assert (uid[:5] == want).all() and (err[:5] == "").all()
    assert uid[5] == pseudonymise("+14155550100", KEY) and err[5] == ""
    assert uid[6] == 0 and "1[3-9]" in err[6]  # +86 then not a mobile number
    assert err[7] == "empty" and err[8] not in ("", "empty")


@pytest.mark.parametrize("key", [KEY, b"k" * 64, b"a much longer key than one SHA-256 block of sixty-four bytes" * 3])
def test_pseudonyms_are_rfc2104_hmac_for_any_key_length(key):
    uid, _ = pseudonymise_uniques(np.array(["+8613800138000"], dtype=object), key)
    digest = hmac.new(key, b"+8613800138000", hashlib.sha256).digest()
    assert int(uid[0]) == int.from_bytes(digest[:8], "big", signed=True)


# ---- fuzzing (issue 9) -------------------------------------------------------------------------------


@settings(max_examples=400)
@given(st.text(max_size=50))
def test_normalise_never_raises_anything_else(text):
    try:
        e164 = normalise_msisdn(text)
    except PhoneNumberError:
        return
    assert e164.startswith("+") and e164[1:].isascii() and e164[1:].isdigit()
    assert 8 <= len(e164) - 1 <= 15
    assert normalise_msisdn(e164) == e164  # idempotent
    mask_msisdn(e164)


@settings(max_examples=200)
@given(
    digits=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    prefix=st.sampled_from(["", "+86", "+86 ", "0086", "86"]),
    sep=st.sampled_from(["", " ", "-"]),
)
def test_every_written_form_of_a_mobile_number_has_one_pseudonym(digits, prefix, sep):
    text = prefix + sep.join([digits[:3], digits[3:7], digits[7:]])
    assert normalise_msisdn(text) == "+86" + digits
    assert mask_msisdn(normalise_msisdn(text)) == f"{digits[:3]}****{digits[-4:]}"
