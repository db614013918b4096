"""Community risk grades on synthetic outbreaks whose future is known (issue 5).

For large-city and small-city nations of evaluation seeds (never the training seeds of
scripts/fit_grade_model.py), every community is graded on several days D from data available on D
(features through the real engine: stays, homes, companions, itineraries) and compared with the true
infections of its residents on D .. D+6. Prints the calibration table by grade and, last, one JSON
object: auc (the score against "any new infection in the next 7 days"), monotone (realised incidence
strictly increasing across the five grades), auc_china_rule, auc_cases_only, the calibration table,
the oracle ceiling, n_communities, n_days, seeds.

    .venv/bin/python benchmarks/grades.py            # seeds 1 and 2, 180 communities per nation
    .venv/bin/python benchmarks/grades.py --quick    # seed 1, smaller nations, fewer days (under a minute)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.grades import DEFAULT_MODEL, THRESHOLDS  # noqa: E402
from forecast.grades import build_panels, default_specs, evaluate  # noqa: E402

FULL = {"communities_per_city": 30, "n_subscribers": 10000, "epidemic_days": 35, "n_days": 28}
QUICK = {"communities_per_city": 30, "n_subscribers": 8000, "epidemic_days": 35, "n_days": 22, "day_step": 2}


@click.command()
@click.option("--quick", is_flag=True, help="one seed, smaller nations")
@click.option("--seeds", default=None, help="evaluation seeds (default 1,2; quick: 1)")
def main(quick: bool, seeds: str | None) -> None:
    """Evaluate forecast.grades.DEFAULT_MODEL and the two references."""
    seeds_ = [int(s) for s in seeds.split(",")] if seeds else ([1] if quick else [1, 2])
    spec = QUICK if quick else FULL
    t0 = time.perf_counter()
    panel = build_panels(default_specs(seeds_, **spec),
                         progress=lambda s: print(f"nation {s.name} seed {s.seed} done ({time.perf_counter() - t0:.0f} s)"))
    ev = evaluate(panel, DEFAULT_MODEL)
    print(f"\nthresholds (per 100k residents per day): {THRESHOLDS}")
    print(f"{'grade':<12}{'n':>7}{'predicted':>11}{'realised':>10}{'share infected':>16}")
    for row in ev["calibration"]:
        print(f"{row['grade']:<12}{row['n']:>7}{row['predicted']:>11}{row['realised']:>10}{row['share_with_infection']:>16}")
    print(f"AUC model {ev['auc']}  China 2020 rule {ev['auc_china_rule']}  cases only {ev['auc_cases_only']}  "
          f"(expected count {ev['auc_expected_infections']}, oracle ceiling {ev['auc_oracle_ceiling']})")
    for name, b in ev["by_panel"].items():
        print(f"  {name}: {b}")
    out = {k: ev[k] for k in ("auc", "monotone", "auc_china_rule", "auc_cases_only", "auc_expected_infections",
                              "auc_oracle_ceiling", "interval_coverage_90", "positive_share", "calibration", "by_panel")}
    out.update(n_communities=int(panel.groupby(["panel", "seed"])["community_id"].nunique().sum()),
               n_days=int(panel["date"].nunique()), n_rows=ev["n_rows"], seeds=seeds_, panels=sorted(panel["panel"].unique()),
               nation=spec, thresholds=list(THRESHOLDS), quick=quick, seconds=round(time.perf_counter() - t0, 1))
    print(json.dumps(out, ensure_ascii=False, default=lambda v: None if v != v else v))


if __name__ == "__main__":
    main()
