"""The synthetic nation: real cities, simulated subscribers, routines, an epidemic and its pings, with truth.

Deterministic for a seed; what the demo, the tests and the benchmarks run on.

- :mod:`~forecast.synth.nation`: :class:`NationConfig`, :func:`generate_nation`, writing and reading it;
- :mod:`~forecast.synth.geo`: cities (the 2020 table), communities, cells, places, the population;
- :mod:`~forecast.synth.routine`: daily routines and trips;
- :mod:`~forecast.synth.epidemic`: transmission along shared places;
- :mod:`~forecast.synth.pings`: pings from the routines (vectorised);
- :mod:`~forecast.synth.io`: Arrow tables and day-part writers.
"""

from forecast.synth.nation import (FEEDS, PLACES, SUBSCRIBERS, TRUTH, Nation, NationConfig, generate_nation,
                                   generate_nation_to_dir, read_truth, write_nation)

__all__ = ["FEEDS", "PLACES", "SUBSCRIBERS", "TRUTH", "Nation", "NationConfig", "generate_nation",
           "generate_nation_to_dir", "read_truth", "write_nation"]
