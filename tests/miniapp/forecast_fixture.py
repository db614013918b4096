"""The forecast series and the origin's outflow (m007) for the shared snapshot fixture, made by the real
build functions (miniapp.pipeline.steps) from the fixture's case series and from stays written here.

``publish_forecast_fixture(dir)`` publishes the shared fixture's tables plus ``forecast_series`` and
``city_mobility``. Mobility: six Beijing residents go to Wuhan and come back on 2020-02-03 (>= 2 h at
both ends: counted), one on 2020-02-04 (below the small-count threshold 5: NULL); 40 trips leave Wuhan
for Beijing on 2020-02-03, 2 for Shanghai (NULL).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecast.epidemic import fit
from miniapp.pipeline.context import BuildContext
from miniapp.pipeline.params import BuildParams
from miniapp.pipeline.steps import estimated_series, forecast_series_rows, origin_mobility

H = 3600


def _stays() -> pd.DataFrame:
    rows = []
    for uid, day in [(u, "2020-02-03") for u in range(1, 7)] + [(7, "2020-02-04")]:
        t0 = int(pd.Timestamp(day + " 07:00", tz="Asia/Shanghai").timestamp())
        rows += [(uid, t0, t0 + 3 * H, 110100), (uid, t0 + 5 * H, t0 + 8 * H, 420100),
                 (uid, t0 + 10 * H, t0 + 13 * H, 110100)]
    return pd.DataFrame(rows, columns=["uid", "start_s", "end_s", "city_code"])


def _flows() -> pd.DataFrame:
    return pd.DataFrame({"local_date": pd.to_datetime(["2020-02-03", "2020-02-03"]), "origin": [420100, 420100],
                         "destination": [110100, 310100], "trips": [40, 2]})


def forecast_tables(tables: dict, contacts_per_case: float = fit.DEFAULT_CONTACTS_PER_CASE) -> dict[str, pd.DataFrame]:
    """``forecast_series`` and ``city_mobility`` from the fixture tables, as the build's forecast step makes them."""
    cc = tables["city_cases"]
    daily = cc.assign(date=pd.to_datetime(cc["date"])).pivot(index="date", columns="city_code", values="confirmed")
    daily = daily.astype(float)
    pop = tables["cities"].set_index("city_code")["population"].reindex(daily.columns).to_numpy(float)
    q = fit.forecast_quantiles(daily, pop, None, horizon_days=30, n_members=20, contacts_per_case=contacts_per_case)
    series = pd.concat([forecast_series_rows(q), estimated_series(daily)], ignore_index=True)
    ctx = BuildContext("2020-02-10", BuildParams(), {}, stays=_stays(), flows=_flows())
    return {"forecast_series": series, "city_mobility": origin_mobility(ctx, daily)}


def publish_forecast_fixture(snapshot_dir: Path, close_contacts_basis: dict | None = None) -> Path:
    """Publish the shared fixture snapshot plus the two tables into ``snapshot_dir``; with
    ``close_contacts_basis`` (as :func:`miniapp.pipeline.steps.close_contacts_basis` returns it) the close
    contacts use its ratio and the meta records it, as a build does; without, the meta has none (an older
    snapshot) and the ratio is the default."""
    from miniapp.snapshot import new_build_path, publish, write_snapshot
    from tests.miniapp.snapshot_fixture import AS_OF, fixture_meta, snapshot_tables

    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    tmp = new_build_path(snapshot_dir)
    tables = snapshot_tables(AS_OF)
    ratio = fit.DEFAULT_CONTACTS_PER_CASE if close_contacts_basis is None else close_contacts_basis["contacts_per_case"]
    meta = fixture_meta(AS_OF) if close_contacts_basis is None else \
        {**fixture_meta(AS_OF), "close_contacts_basis": close_contacts_basis}
    write_snapshot({**tables, **forecast_tables(tables, ratio)}, tmp, meta)
    publish(tmp, snapshot_dir)
    return snapshot_dir


__all__ = ["forecast_tables", "publish_forecast_fixture"]
