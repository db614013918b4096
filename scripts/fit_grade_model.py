"""Refit the coefficients of the community grade model on synthetic outbreaks and print them.

The published coefficients (forecast.grades.DEFAULT_MODEL) change only through this script:

    .venv/bin/python scripts/fit_grade_model.py            # fit and print (Python and JSON)
    .venv/bin/python scripts/fit_grade_model.py --write    # also rewrite the block in forecast/grades/model.py

Training nations use seeds 101.. (the benchmark evaluates seeds 1 and 2: never the same outbreaks).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.grades import build_panels, default_specs, evaluate, fit_model  # noqa: E402

TRAIN_SEEDS = (101, 102)
PANEL = {"communities_per_city": 30, "n_subscribers": 10000, "epidemic_days": 35, "n_days": 28}
BEGIN = "# ---- golden coefficients: change them only by running scripts/fit_grade_model.py"
END = "# ------------------------------------------------------------------------------------------------------"


def model_source(model) -> str:
    coef = ", ".join(f'"{k}": {v:.6g}' for k, v in model.coef.items())
    return (f"DEFAULT_MODEL = GradeModel(\n    coef={{{coef}}},\n    growth={model.growth:.4g},\n"
            f"    density={model.density:.4g},\n    dispersion={model.dispersion:.4g},\n    note={model.note!r},\n)\n")


@click.command()
@click.option("--seeds", default=",".join(map(str, TRAIN_SEEDS)), show_default=True, help="training seeds")
@click.option("--write", is_flag=True, help="rewrite DEFAULT_MODEL in forecast/grades/model.py")
def main(seeds: str, write: bool) -> None:
    """Fit the grade model on the large- and small-city nations of the training seeds."""
    seeds_ = [int(s) for s in seeds.split(",")]
    t0 = time.perf_counter()
    panel = build_panels(default_specs(seeds_, **PANEL),
                         progress=lambda s: print(f"  nation {s.name} seed {s.seed} ({time.perf_counter() - t0:.0f} s)",
                                                  file=sys.stderr))
    note = f"fitted by scripts/fit_grade_model.py on seeds {seeds_} ({len(panel)} community-days), {PANEL}"
    model = fit_model(panel, note=note)
    src = model_source(model)
    print(src)
    print("in-sample:", json.dumps({k: v for k, v in evaluate(panel, model).items() if k != "calibration"}))
    print(json.dumps(model.as_dict()))
    if write:
        path = ROOT / "forecast" / "grades.py"
        text = path.read_text(encoding="utf-8")
        pat = re.compile("(" + re.escape(BEGIN) + r"[^\n]*\n).*?" + re.escape(END), re.S)
        new, n = pat.subn(lambda m: m.group(1) + src + END, text)
        if n != 1:
            raise SystemExit("could not find the golden block in forecast/grades/model.py")
        path.write_text(new, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
