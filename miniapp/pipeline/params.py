"""The parameters of a build (:class:`BuildParams`), recorded in the snapshot's meta."""

from __future__ import annotations

from dataclasses import dataclass

from forecast.contacts import MIN_COUNT


@dataclass(frozen=True)
class BuildParams:
    """Parameters of a build (recorded in the snapshot's meta)."""

    window_days: int = 14  # itinerary window D-14 .. D-1
    min_city_minutes: float = 240  # a visited city: >= 4 h on one local day
    min_stay_minutes: float = 30
    stay_radius_m: float = 100  # measured best on the synthetic nation (docs/engine.md)
    max_gap_minutes: float = 720  # nights are silent: a shorter gap loses evening stays
    min_trip_stay_minutes: float = 120  # flows: >= 2 h stays at both ends
    companion_window_days: int = 15
    min_shared_minutes: float = 60  # the rule: a companion shared >= 60 min with a case
    # Companions are searched down to this many minutes; pairs between it and min_shared_minutes are
    # "possible companions", kept apart (not in the exposure table) so the 60-min rule stays the rule
    # while pairs whose sparse-ping estimate fell short are not lost (docs/contacts.md). None: off.
    possible_companion_minutes: float | None = 40
    # Stays for the companion search (forecast.contacts.stays; docs/contacts.md "Stays for the search"):
    # same cell, ended at the next ping elsewhere (no tail: the evening at home runs through the silent
    # night), a missing day does not discard the stay before it. Cached per ping part beside the
    # itinerary's stays and joined across parts.
    companion_min_stay_minutes: float = 15
    companion_stay_radius_m: float | None = None
    # the search's place is a site: the cells table's site_id, else cells within this distance of a lead cell
    # (forecast.stays.sites), so radio ping-pong among a mast's sectors does not cut stays; None: the cell
    companion_site_radius_m: float | None = 100
    companion_max_gap_minutes: float = 2880
    companion_max_tail_minutes: float | None = None
    companion_backfill_minutes: float = 720  # where the data begins: the night before the first ping
    forecast_horizon_days: int = 30  # the 30 days the 2020 platform forecast (issue 19)
    n_members: int = 100
    # Named intervention schedules of forecast.epidemic.seir (e.g. "lockdown_2020"); none by default, because a
    # schedule is a fact about the place and period being built, not a model default.
    interventions: tuple[str, ...] = ()
    forecast_spread_scale: float = 1.0  # the filter is calibrated as it is (docs/forecast.md); > 1 widens intervals
    history_days: int = 30
    small_count: int = MIN_COUNT  # the one threshold: counts of people below it are never shown
    keep: int = 3
    tz: str = "Asia/Shanghai"

    @property
    def retention_days(self) -> int:
        """Days of location data any step still needs (the longest window, plus the query day)."""
        return max(self.window_days, self.companion_window_days) + 1


def companion_stay_params(p: BuildParams) -> dict:
    """The companion search's stay settings (``BuildParams.companion_*``) as detect_stays arguments."""
    return {"min_stay_minutes": p.companion_min_stay_minutes, "radius_m": p.companion_stay_radius_m,
            "max_gap_minutes": p.companion_max_gap_minutes, "max_tail_minutes": p.companion_max_tail_minutes,
            "site_radius_m": p.companion_site_radius_m}


def companion_search_args(params: BuildParams, as_of: str) -> dict:
    """The companion search's settings (``BuildParams``) as :mod:`forecast.contacts.partition` arguments.

    Parameters
    ----------
    params : BuildParams
        The build's settings.
    as_of : str
        The query day (ISO date); the search covers each case's days before confirmation.

    Returns
    -------
    dict
        ``window_days, min_shared_minutes, min_possible_minutes, as_of, tz``.
    """
    return {"window_days": params.companion_window_days, "min_shared_minutes": params.min_shared_minutes,
            "min_possible_minutes": params.possible_companion_minutes, "as_of": as_of, "tz": params.tz}
