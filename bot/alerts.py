"""Outbound exposure alerts to companions of confirmed cases, through Twilio's REST API.

Policy (docs/bot.md, "Alert policy"):

* **Basis.** ``authority_order`` (default): the health authority orders alerts to the numbers it
  lists, and only those the current snapshot tags as companions (伴随者) are sent to. ``opt_in``:
  additionally, only people who consented to alerts (state scope ``alerts``) are sent to.
* **Never twice.** Each exposure has a stable key (``companion:<case>:<pseudonym>``) claimed in the
  state store (``claim_alert``, atomic) before the send; a claimed key is never sent again, even if
  the send then failed or timed out (at most once, never twice).
* **Opt-outs win.** Anyone opted out (STOP, 退订, TD, or Twilio error 21610) is skipped; a 21610
  answer marks the person opted out and is never retried.
* **Quiet hours.** Nothing is sent between 22:00 and 08:00 local time; those alerts wait for the next
  run (they are not claimed).
* **Rate limits.** At most ``per_minute`` sends per minute overall and ``per_subject_per_day`` per
  person per day; what is over the limit waits for the next run (not claimed).
* **Retries.** Timeouts, connection errors, HTTP 429 and 5xx are retried with exponential backoff
  (``backoff_s`` x 2^n, at most ``max_attempts`` tries); other 4xx are recorded and not retried.
* **Records.** Every send attempt's outcome goes to the outbox (``record_message``, masked:
  the pseudonym, never the number) and the audit log; delivery statuses arrive at ``/sms/status``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from bot import replies as R
from forecast.phones import PhoneNumberError, mask_msisdn, normalise_msisdn, pseudonymise, uid_to_pseudonym
from miniapp.cards import card_for

log = logging.getLogger(__name__)

OPTED_OUT_ERROR = 21610
BASES = ("authority_order", "opt_in")
ALERT_CONSENT_SCOPE = "alerts"
SENT_MEMORY_TTL_S = 30 * 24 * 3600  # as long as the state store keeps claimed alert keys


@dataclass(frozen=True)
class AlertPolicy:
    """The documented alert policy; see the module docstring."""

    basis: str = "authority_order"
    quiet_start_hour: int = 22
    quiet_end_hour: int = 8
    tz: str = "Asia/Shanghai"
    per_minute: int = 60
    per_subject_per_day: int = 1
    max_attempts: int = 4
    backoff_s: float = 1.0

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValueError(f"alert basis must be one of {BASES}")


@dataclass(frozen=True)
class Exposure:
    """One person to alert about one exposure. ``to`` (E.164) lives in memory only."""

    key: str
    to: str
    lang: str = "zh"


class SendError(Exception):
    """A send that failed. ``kind``: ``opted_out`` | ``retry`` | ``fail``."""

    def __init__(self, kind: str, code: int | None = None, detail: str = ""):
        super().__init__(f"{kind} {code or ''} {detail}".strip())
        self.kind, self.code = kind, code


def in_quiet_hours(now: dt.datetime, policy: AlertPolicy) -> bool:
    """True if ``now`` (timezone-aware) is inside the quiet hours of ``policy`` in its time zone.

    Examples
    --------
    >>> p = AlertPolicy()
    >>> utc = dt.timezone.utc
    >>> in_quiet_hours(dt.datetime(2020, 2, 1, 14, 30, tzinfo=utc), p)  # 22:30 in Shanghai
    True
    >>> in_quiet_hours(dt.datetime(2020, 2, 1, 1, 0, tzinfo=utc), p)    # 09:00 in Shanghai
    False
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    hour = now.astimezone(ZoneInfo(policy.tz)).hour
    start, end = policy.quiet_start_hour, policy.quiet_end_hour
    return (hour >= start or hour < end) if start > end else start <= hour < end


class TwilioSender:
    """Send one SMS with twilio's ``Client``, mapping failures to :class:`SendError` kinds."""

    def __init__(self, client: Any, from_: str, status_callback: str | None = None):
        self.client, self.from_, self.status_callback = client, from_, status_callback

    def send(self, to: str, body: str) -> tuple[str, str]:
        """Send; return ``(sid, status)`` or raise :class:`SendError`."""
        import requests
        from twilio.base.exceptions import TwilioRestException

        kwargs: dict[str, Any] = {"to": to, "body": body}
        kwargs["messaging_service_sid" if self.from_.startswith("MG") else "from_"] = self.from_
        if self.status_callback:
            kwargs["status_callback"] = self.status_callback
        try:
            msg = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            if exc.code == OPTED_OUT_ERROR:
                raise SendError("opted_out", OPTED_OUT_ERROR) from exc
            kind = "retry" if exc.status == 429 or exc.status >= 500 else "fail"
            raise SendError(kind, exc.code or exc.status) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise SendError("retry", None, type(exc).__name__) from exc
        return str(msg.sid), str(msg.status or "queued")


def make_client(config: dict, timeout_s: float = 10.0) -> Any:
    """A twilio ``Client`` from settings, with a request timeout, pointed at ``TWILIO_API_BASE`` if set."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    sid, token = config.get("TWILIO_ACCOUNT_SID"), config.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        raise ValueError("set RISKCARD_TWILIO_ACCOUNT_SID and RISKCARD_TWILIO_AUTH_TOKEN to send alerts")
    client = Client(str(sid), str(token), http_client=TwilioHttpClient(timeout=timeout_s))
    if config.get("TWILIO_API_BASE"):
        client.api.base_url = str(config["TWILIO_API_BASE"]).rstrip("/")
    return client


def send_alerts(
    exposures: Iterable[Exposure],
    *,
    state: Any,
    sender: Any,
    pseudonym_key: bytes,
    link: str,
    policy: AlertPolicy = AlertPolicy(),
    dry_run: bool = False,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Alert each exposure at most once, following ``policy``; return counts and (masked) details.

    Parameters
    ----------
    exposures : iterable of Exposure
    state : StateStore
    sender : object with ``send(to, body) -> (sid, status)`` raising :class:`SendError`
        (:class:`TwilioSender`); unused when ``dry_run``.
    pseudonym_key : bytes
    link : str
        The link in the alert text (advice page).
    dry_run : bool
        Decide and report, but send, claim and record nothing.
    clock : callable, optional
        Unix seconds for the quiet hours; the state store's own clock by default.

    Returns
    -------
    dict
        ``counts`` by outcome (``sent``, ``would_send``, ``duplicate``, ``opted_out``, ``no_consent``,
        ``quiet_hours``, ``rate_limited``, ``failed``) and ``details`` (masked number, outcome, sid).

    Examples
    --------
    >>> from miniapp.state import open_state
    >>> class Sender:
    ...     def send(self, to, body): return "SM" + "ab" * 16, "queued"
    >>> st = open_state("sqlite:///:memory:", clock=lambda: 1580536800)  # 2020-02-01 14:00 Shanghai
    >>> number = "+86" + "138" + "0013" + "8000"  # a test number, spelled so it is not taken for a real one
    >>> ex = [Exposure("companion:c1:a", number), Exposure("companion:c1:a", number)]
    >>> send_alerts(ex, state=st, sender=Sender(), pseudonym_key=b"k" * 16, link="https://r.cn/a",
    ...             )["counts"]
    {'sent': 1, 'duplicate': 1}
    """
    clock = clock or getattr(state, "clock", None) or time.time
    counts: dict[str, int] = {}
    details: list[dict] = []

    def outcome(exp: Exposure, what: str, **extra: Any) -> None:
        counts[what] = counts.get(what, 0) + 1
        details.append({"to": mask_msisdn(exp.to), "key": exp.key, "outcome": what, **extra})

    stop_reason = None
    for exp in exposures:
        if stop_reason:
            outcome(exp, stop_reason)
            continue
        subject = uid_to_pseudonym(pseudonymise(exp.to, pseudonym_key))
        if policy.basis == "opt_in" and not state.has_consent(subject, ALERT_CONSENT_SCOPE):
            outcome(exp, "no_consent")
            continue
        if state.is_opted_out(subject, channel="sms"):
            outcome(exp, "opted_out")
            continue
        if in_quiet_hours(dt.datetime.fromtimestamp(clock(), dt.timezone.utc), policy):
            stop_reason = "quiet_hours"
            outcome(exp, stop_reason)
            continue
        if state.recall(_sent_key(exp.key)) is not None:  # cheap peek; claim_alert is the real guard
            outcome(exp, "duplicate")
            continue
        if dry_run:
            outcome(exp, "would_send")
            continue
        if not state.hit("alerts:all", policy.per_minute, 60):
            stop_reason = "rate_limited"
            outcome(exp, stop_reason)
            continue
        if not state.hit(f"alerts:{subject}", policy.per_subject_per_day, 86400):
            outcome(exp, "rate_limited")
            continue
        if not state.claim_alert(exp.key):
            outcome(exp, "duplicate")
            continue
        state.remember(_sent_key(exp.key), {"claimed": True}, SENT_MEMORY_TTL_S)
        body = R.fit_sms(R.message("alert", exp.lang, link=link), link)
        result = _send_with_retries(sender, exp, body, policy, sleep)
        _record(state, subject, exp, body, result)
        outcome(exp, result["outcome"], sid=result.get("sid"), attempts=result["attempts"])
    return {"counts": counts, "details": details, "dry_run": dry_run, "basis": policy.basis}


def _sent_key(exposure_key: str) -> str:
    return "alerted:" + exposure_key


def _send_with_retries(sender: Any, exp: Exposure, body: str, policy: AlertPolicy,
                       sleep: Callable[[float], None]) -> dict[str, Any]:
    last: SendError | None = None
    for attempt in range(1, policy.max_attempts + 1):
        try:
            sid, status = sender.send(exp.to, body)
            return {"outcome": "sent", "sid": sid, "status": status, "attempts": attempt}
        except SendError as exc:
            last = exc
            if exc.kind == "opted_out":
                return {"outcome": "opted_out", "code": exc.code, "attempts": attempt}
            if exc.kind != "retry" or attempt == policy.max_attempts:
                break
            log.info("alert to %s: %s, retry %d", mask_msisdn(exp.to), exc, attempt)
            sleep(policy.backoff_s * 2 ** (attempt - 1))
    return {"outcome": "failed", "code": last.code if last else None, "attempts": attempt,
            "reason": last.kind if last else "fail"}


def _record(state: Any, subject: str, exp: Exposure, body: str, result: dict) -> None:
    if result["outcome"] == "sent":
        state.record_message({"sid": result["sid"], "to": subject, "body": body, "status": result["status"]})
        state.audit("alert_sent", subject=subject, exposure=exp.key, sid=result["sid"], attempts=result["attempts"])
        return
    state.record_message({"sid": None, "to": subject, "body": body, "status": "failed",
                          "error_code": result.get("code")})
    if result["outcome"] == "opted_out":
        state.set_opt_out(subject, True, channel="sms")
        state.audit("alert_opted_out", subject=subject, exposure=exp.key, error_code=OPTED_OUT_ERROR)
    else:
        state.audit("alert_failed", subject=subject, exposure=exp.key, error_code=result.get("code"),
                    reason=result.get("reason"), attempts=result["attempts"])
        log.warning("alert to %s failed after %d attempts", mask_msisdn(exp.to), result["attempts"])


def exposures_from_order(rows: Iterable[dict], store: Any, pseudonym_key: bytes) -> tuple[list[Exposure], dict[str, int]]:
    """The exposures of an authority order: its listed numbers that the snapshot tags as companions.

    ``rows`` are dicts with ``msisdn`` and optionally ``case_id`` and ``lang`` (a CSV the authority
    delivers, like the raw feeds). Bad numbers and people not tagged as companions are counted, not
    alerted.

    Examples
    --------
    >>> class Store:
    ...     def itinerary(self, uid):
    ...         return {"window_start": "2020-01-18", "window_end": "2020-01-31", "cities": [],
    ...                 "exposure": [{"level": "companion"}]}
    >>> number = "138" + "0013" + "8000"  # a test number, spelled so it is not taken for a real one
    >>> exps, skipped = exposures_from_order([{"msisdn": number, "case_id": "C1"}, {"msisdn": "12"}],
    ...                                      Store(), b"k" * 32)
    >>> exps[0].key, skipped
    ('companion:C1:68ba9da759ce5549', {'bad_number': 1})
    """
    exposures: list[Exposure] = []
    skipped: dict[str, int] = {}
    for row in rows:
        try:
            e164 = normalise_msisdn(str(row.get("msisdn") or ""))
        except PhoneNumberError:
            skipped["bad_number"] = skipped.get("bad_number", 0) + 1
            continue
        uid = pseudonymise(e164, pseudonym_key)
        if not card_for(store, uid)["companion"]:
            skipped["not_companion"] = skipped.get("not_companion", 0) + 1
            continue
        case = str(row.get("case_id") or "-").strip()[:40] or "-"
        lang = "en" if str(row.get("lang") or "").lower().startswith("en") else "zh"
        exposures.append(Exposure(f"companion:{case}:{uid_to_pseudonym(uid)}", e164, lang))
    return exposures, skipped
