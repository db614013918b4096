"""What pyproject.toml cannot say: the packages are found, not listed (every folder with an
``__init__.py`` under forecast/, miniapp/ and bot/), plus the two resource folders at the top of
the repository, which install as ``miniapp.templates`` and ``miniapp.static`` (see package-dir in
pyproject.toml)."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["forecast", "forecast.*", "miniapp", "miniapp.*", "bot", "bot.*"])
      + ["miniapp.templates", "miniapp.static"])
