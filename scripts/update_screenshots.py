"""Refresh docs/screenshots/ from the end-to-end walks: run them, then copy what they saw.

The walks (tests/e2e/test_walks.py) write their screenshots to test-artifacts/e2e/ on every run;
docs/ changes only through this explicit step, like any golden file.

Example::

    .venv/bin/python scripts/update_screenshots.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE, TARGET = ROOT / "test-artifacts" / "e2e", ROOT / "docs" / "screenshots"


def main() -> int:
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e"], cwd=ROOT)
    if run.returncode:
        print("the walks failed: docs/screenshots/ left as it was", file=sys.stderr)
        return run.returncode
    TARGET.mkdir(parents=True, exist_ok=True)
    copied = sorted(SOURCE.glob("*.png"))
    for png in copied:
        shutil.copyfile(png, TARGET / png.name)
    print(f"copied {len(copied)} screenshots to {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
