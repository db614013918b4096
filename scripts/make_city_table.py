"""Write forecast/data/cities_china2020.csv (the synthetic nation's embedded city table) from the shared
2020 China data.

Example: .venv/bin/python scripts/make_city_table.py [--data-dir forecast/data/china2020]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecast.synth.geo import CITY_TABLE_PATH, read_china2020_cities  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="shared china2020 directory")
    ap.add_argument("--out", default=str(CITY_TABLE_PATH))
    args = ap.parse_args(argv)
    table = read_china2020_cities(args.data_dir)
    table.to_csv(args.out, index=False, float_format="%.6f")
    print(f"wrote {len(table)} cities to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
