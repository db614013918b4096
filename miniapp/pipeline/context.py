"""What the steps of a build see and what they hand back: a typed, read-only build context and
small result types.

:func:`miniapp.pipeline.run.run_build` makes a :class:`BuildContext` once the feeds and stays are
read, and grows it with :func:`dataclasses.replace` as steps return: a step never writes into the
context, it returns its result, and the next step's context carries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pandas as pd

from miniapp.pipeline.params import BuildParams

@dataclass(frozen=True)
class CompanionResult:
    """What the companion search found, and the snapshot's exposure rows made of it.

    Attributes
    ----------
    exposure : DataFrame
        The snapshot's rows: ``uid, last_date, minutes, cases, level`` (companions, then possible
        companions who are no one's companion).
    companions : DataFrame or None
        Pairs by the rule (>= ``min_shared_minutes``): ``case_id, uid, shared_minutes, first_s, last_s``.
    possible : DataFrame or None
        Pairs within the measurement error below the rule (estimated 40-60 min).
    tags : DataFrame or None
        :func:`forecast.contacts.exposure_tags` of ``companions`` (one row per companion).
    case_report : DataFrame or None
        Per case: searched, no stays, window clipped, companions found.

    The four are None when no search ran (no cases, or no stays).
    """

    exposure: pd.DataFrame
    companions: pd.DataFrame | None = None
    possible: pd.DataFrame | None = None
    tags: pd.DataFrame | None = None
    case_report: pd.DataFrame | None = None

    @property
    def n_companions(self) -> int:
        """People who are a companion of some case (the exposure rows of level ``companion``)."""
        return 0 if self.tags is None else int(len(self.tags))


@dataclass(frozen=True)
class ForecastResult:
    """The forecast step's tables and what it could not do.

    Attributes
    ----------
    forecasts : DataFrame
        ``region, date, q05 .. q95`` of daily confirmed cases per city (``region = "city:<code>"``).
    city_risk : DataFrame
        ``city_code, rt, rt_lo, rt_hi, starred`` (stars are set later, from the grades).
    city_cases : DataFrame
        ``city_code, date, confirmed``: the daily case series the forecast was fitted to.
    warnings : tuple of str
        Why a forecast is missing, for the build report.
    series : DataFrame or None
        ``city_code, target, date, q025, q25, q50, q75, q975``: the 30-day forecast of
        ``confirmed_daily`` and ``close_contacts_daily``, and ``rt``, ``growth_rate_per_day``,
        ``doubling_time_days`` estimated from the reported series (snapshot table ``forecast_series``).
    mobility : DataFrame or None
        ``city_code, date, origin_city_code, outflow, round_trips``: travellers from the epidemic origin
        city and residents who went there and came back, per day (snapshot table ``city_mobility``;
        counts below the small-count threshold are NULL).
    close_contacts_basis : dict or None
        :func:`miniapp.pipeline.steps.close_contacts_basis` of the forecast's close contacts (snapshot
        meta ``close_contacts_basis``); None without a forecast.
    """

    forecasts: pd.DataFrame
    city_risk: pd.DataFrame
    city_cases: pd.DataFrame
    warnings: tuple[str, ...] = ()
    series: pd.DataFrame | None = None
    mobility: pd.DataFrame | None = None
    close_contacts_basis: dict | None = None


@dataclass(frozen=True)
class GradesResult:
    """Today's community grades and each community's 7-day forecast in the grade's unit.

    Attributes
    ----------
    grades : DataFrame
        ``community_id, score, grade, lo, hi, trend, reasons`` (reasons as JSON text).
    forecasts : DataFrame
        ``region = "community:<id>", date, q05 .. q95`` (empty without a forecast).
    """

    grades: pd.DataFrame
    forecasts: pd.DataFrame


@dataclass(frozen=True)
class BuildContext:
    """What a step reads: the day, the settings, the feeds and what earlier steps returned.

    Attributes
    ----------
    as_of : str
        The query day D (ISO date).
    params : BuildParams
        The build's settings.
    feeds : mapping
        The reference feeds read (``cities``, ``communities``, ``cells`` and, when present, ``cases``,
        ``case_trips``, ``city_cases``).
    stays : DataFrame
        Stays overlapping the longest window, sorted by (uid, start).
    city_days : DataFrame
        City-days of every cached ping part.
    companion_stays : DataFrame or None
        Stays by the companion search's settings (None: search ``stays``).
    flows : DataFrame or None
        The flows step's result, once it ran.
    companions : CompanionResult or None
        The companions step's result, once it ran.
    forecast : ForecastResult or None
        The forecast step's result, once it ran.
    """

    as_of: str
    params: BuildParams
    feeds: Mapping[str, pd.DataFrame]
    stays: pd.DataFrame = field(default_factory=pd.DataFrame)
    city_days: pd.DataFrame = field(default_factory=pd.DataFrame)
    companion_stays: pd.DataFrame | None = None
    flows: pd.DataFrame | None = None
    companions: CompanionResult | None = None
    forecast: ForecastResult | None = None
