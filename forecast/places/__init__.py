"""Places people go: nearest published case places and clinics, opening hours, map datums (pure).

- :mod:`~forecast.places.distance`: haversine distances, the nearest places to a point, rounding a
  position for privacy;
- :mod:`~forecast.places.gcj02`: WGS-84 <-> GCJ-02 (the datum of Chinese map tiles);
- :mod:`~forecast.places.hours`: opening hours read from text, open / closed / unknown now.
"""

from forecast.places.distance import EARTH_RADIUS_M, ROUND_DEGREES, haversine_m, nearest_places, round_position
from forecast.places.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02
from forecast.places.hours import OPEN_STATES, Hours, open_state, open_states, parse_hours

__all__ = ["EARTH_RADIUS_M", "OPEN_STATES", "ROUND_DEGREES", "Hours", "gcj02_to_wgs84", "haversine_m",
           "nearest_places", "open_state", "open_states", "parse_hours", "round_position", "wgs84_to_gcj02"]
