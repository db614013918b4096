"""Small server-side SVG charts: pages stay light and work without JavaScript."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np

GRADE_COLOURS = {
    "slight": "#1e7b34",
    "low": "#2f6f9f",
    "medium_low": "#8a6100",
    "medium_high": "#b3410e",
    "high": "#a3141c",
    "unknown": "#5c5f66",
}


_NICE_STEPS = (1.0, 2.0, 2.5, 5.0)
MAX_INTERVALS = 4  # an axis has 3 to 5 labelled ticks


def _scale(values: Sequence[float], lo: float, hi: float, out_lo: float, out_hi: float) -> list[float]:
    span = (hi - lo) or 1.0
    return [out_lo + (v - lo) / span * (out_hi - out_lo) for v in values]


def _decimals(step: float) -> int:
    """Decimals needed to write multiples of ``step`` exactly (at most 6)."""
    for k in range(7):
        if abs(round(step, k) - step) <= 1e-9 * max(abs(step), 1e-12):
            return k
    return 6


def nice_ticks(top: float, max_intervals: int = MAX_INTERVALS) -> list[float]:
    """Ticks from 0 to at least ``top`` at a round step (1, 2, 2.5 or 5 times a power of ten).

    Parameters
    ----------
    top : float
        The largest value the axis must show (<= 0: an axis from 0 to 1).
    max_intervals : int
        At most this many steps between 0 and the last tick.

    Returns
    -------
    list of float
        ``0, step, 2 step, ...``: 3 to ``max_intervals + 1`` ticks, the last >= ``top``.

    Examples
    --------
    >>> nice_ticks(3060.0)
    [0.0, 1000.0, 2000.0, 3000.0, 4000.0]
    >>> nice_ticks(0.37)
    [0.0, 0.1, 0.2, 0.3, 0.4]
    >>> nice_ticks(0.0)
    [0.0, 0.5, 1.0]
    """
    if not top > 0 or not math.isfinite(top):
        return [0.0, 0.5, 1.0]
    power = 10.0 ** math.floor(math.log10(top / max_intervals))
    for scale in (power, power * 10):
        for m in _NICE_STEPS:
            step = m * scale
            n = math.ceil(top / step - 1e-9)
            if n <= max_intervals:
                d = _decimals(step)
                return [round(i * step, d + 1) for i in range(n + 1)]
    return [0.0, top]  # unreachable: 10 x power always fits


def format_number(value: float, lang: str = "zh", step: float | None = None) -> str:
    """A number as people write it: ``3,060``, ``0.5``; ``3.06万`` (zh) or ``30.6k`` (en) from 10,000.

    Parameters
    ----------
    value : float
        The number.
    lang : {"zh", "en"}
        Chinese groups large numbers by 万 (10^4) and 亿 (10^8); English by k and M.
    step : float, optional
        The step between an axis's ticks: as many decimals as the step needs (default: up to 2).

    Returns
    -------
    str
        No exponent, ever.

    Examples
    --------
    >>> format_number(3060.0), format_number(30_600.0, "zh"), format_number(30_600.0, "en")
    ('3,060', '3.06万', '30.6k')
    >>> format_number(0.25, step=0.05), format_number(2_500_000.0, "en"), format_number(3e8, "zh")
    ('0.25', '2.5M', '3亿')
    """
    v = float(value)
    if not math.isfinite(v):
        return "–"
    if v == 0:
        return "0"
    big = ((1e8, "亿"), (1e4, "万")) if lang == "zh" else ((1e6, "M"), (1e4, "k"))
    for size, unit in big:
        divisor = size if unit != "k" else 1e3
        if abs(v) >= size:
            d = _decimals(step / divisor) if step else 2
            text = f"{v / divisor:,.{d}f}"
            return (text.rstrip("0").rstrip(".") if "." in text else text) + unit
    d = _decimals(step) if step else (0 if abs(v) >= 100 else 2)
    text = f"{v:,.{d}f}"
    if not step and "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "0.0", "-0.0") else text


def line_chart(
    dates: Sequence[str],
    values: Sequence[float | None],
    *,
    band: tuple[Sequence[float], Sequence[float]] | None = None,
    band_dates: Sequence[str] | None = None,
    median: Sequence[float] | None = None,
    title: str = "",
    unit: str = "",
    width: int = 600,
    height: int = 220,
    lang: str = "zh",
) -> str:
    """An SVG line of ``values`` by date, with an optional forecast band and median after it.

    The value axis starts at 0 and has 3-5 round ticks (:func:`nice_ticks`) written as people write
    numbers in ``lang`` (:func:`format_number`: ``3,060``, ``3.06万``, ``30.6k``; never ``3.06e+03``).

    Examples
    --------
    >>> svg = line_chart(["2020-01-01", "2020-01-02"], [1.0, 2.0], title="t")
    >>> svg.startswith("<svg") and "polyline" in svg
    True
    """
    pad_r, pad_t, pad_b = 10, 20, 28
    all_dates = list(dates) + [d for d in (band_dates or []) if d not in set(dates)]
    n = max(len(all_dates), 2)
    ys_all = [v for v in values if v is not None]
    if band:
        ys_all += list(band[0]) + list(band[1])
    if median:
        ys_all += list(median)
    ticks = nice_ticks(max([v for v in ys_all if math.isfinite(v)] + [0.0]))
    step = ticks[1] - ticks[0]
    labels = [format_number(v, lang, step) for v in ticks]
    # room for the longest label (the page draws chart text at 17 units: ~10 units a character)
    pad_l = max(44, 12 + 10 * max(len(s) for s in labels))
    xs = _scale(range(n), 0, n - 1, pad_l, width - pad_r)
    x_of = {d: x for d, x in zip(all_dates, xs)}
    top = ticks[-1]
    y = lambda v: _scale([v], 0.0, top, height - pad_b, pad_t)[0]  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for v, label in zip(ticks, labels):
        parts.append(f'<line x1="{pad_l}" y1="{y(v):.1f}" x2="{width - pad_r}" y2="{y(v):.1f}" stroke="#e3e5e8"/>')
        parts.append(f'<text class="tick" data-value="{v!r}" x="{pad_l - 6}" y="{y(v) + 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#555">{escape(label)}</text>')
    parts.append(f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" stroke="#8a8f98"/>')
    if band and band_dates:
        upper = [f"{x_of[d]:.1f},{y(v):.1f}" for d, v in zip(band_dates, band[1])]
        lower = [f"{x_of[d]:.1f},{y(v):.1f}" for d, v in zip(band_dates, band[0])][::-1]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="#0b57d0" fill-opacity="0.18"/>')
    if median and band_dates:
        pts = " ".join(f"{x_of[d]:.1f},{y(v):.1f}" for d, v in zip(band_dates, median))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#0b57d0" stroke-width="2" stroke-dasharray="5 4"/>')
    pts = " ".join(f"{x_of[d]:.1f},{y(v):.1f}" for d, v in zip(dates, values) if v is not None)
    if pts:
        parts.append(f'<polyline points="{pts}" fill="none" stroke="#1a1a1a" stroke-width="2"/>')
    for d in (all_dates[0], all_dates[-1]) if all_dates else ():
        anchor = "start" if d == all_dates[0] else "end"
        parts.append(f'<text x="{x_of[d]:.1f}" y="{height - 8}" font-size="11" text-anchor="{anchor}" fill="#555">{escape(d)}</text>')
    if unit:
        parts.append(f'<text x="{pad_l}" y="12" font-size="11" fill="#555">{escape(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


MAP_WIDTH = 320  # drawn 1:1 on a phone (a 390 px screen leaves ~324 px in a card)
MARKER_RADIUS = 24  # a 48-unit disc: >= 44 CSS px down to a 360 px screen (WCAG 2.5.5 target size)
MARKER_GAP = 4
MAP_MIN_HEIGHT = 240
MAP_RELAX_STEPS = 400


def map_layout(lon, lat, *, width: int = MAP_WIDTH, radius: float = MARKER_RADIUS, gap: float = MARKER_GAP
               ) -> tuple[np.ndarray, np.ndarray, int]:
    """Marker centres for places at ``lon, lat``: where they are, nudged apart so no two overlap.

    The places are projected (equirectangular at their mean latitude, north up), fitted into a
    ``width``-wide box whose height grows with their number, then pushed apart pairwise until every
    two centres are at least ``2 radius + gap`` apart (at most ``MAP_RELAX_STEPS`` steps): a schematic
    map whose markers are all big enough to tap.

    Parameters
    ----------
    lon, lat : array_like of float
        Degrees.
    width : int
        Width of the picture, in SVG units.
    radius, gap : float
        Marker radius and the least gap between two markers.

    Returns
    -------
    tuple
        ``x, y`` (arrays of the centres) and the picture's height.

    Examples
    --------
    >>> x, y, h = map_layout([114.30, 114.30, 114.31], [30.60, 30.60, 30.61])
    >>> d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :]) + np.eye(3) * 1e9
    >>> bool(d.min() >= 2 * MARKER_RADIUS + MARKER_GAP - 1e-6), h >= MAP_MIN_HEIGHT
    (True, True)
    """
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    n = len(lon)
    sep = 2.0 * radius + gap
    # room for the markers with space to spare (a random arrangement needs ~2 sep^2 per marker)
    height = int(max(MAP_MIN_HEIGHT, math.ceil(1.8 * n * sep * sep / width)))
    if n == 0:
        return np.zeros(0), np.zeros(0), height
    lo, hi = radius + 2.0, np.array([width, height], float) - radius - 2.0
    xy = np.c_[lon * math.cos(math.radians(float(np.mean(lat)))), -lat]
    span = np.ptp(xy, axis=0)
    scale = float(np.min(np.where(span > 0, (hi - lo) / np.where(span > 0, span, 1.0), np.inf)))
    scale = scale if math.isfinite(scale) else 0.0
    xy = (xy - xy.min(axis=0)) * scale
    xy += lo + ((hi - lo) - xy.max(axis=0)) / 2.0  # centred
    golden = np.arange(n) * 2.399963  # a fixed nudge for places at the same point
    for _ in range(MAP_RELAX_STEPS):
        diff = xy[:, None, :] - xy[None, :, :]
        dist = np.hypot(diff[..., 0], diff[..., 1])
        np.fill_diagonal(dist, np.inf)
        if dist.min() >= sep - 1e-6:
            break
        same = dist < 1e-9
        diff[same] = np.stack([np.cos(golden), np.sin(golden)], axis=1)[np.nonzero(same)[0]]
        dist = np.where(same, 1.0, dist)
        close = dist < sep
        push = np.where(close, (sep - dist) / 2.0 + 0.01, 0.0) / dist
        # each marker moves by the mean of its pushes: a crowd spreads instead of jumping to a wall
        xy += (diff * push[..., None]).sum(axis=1) / np.maximum(close.sum(axis=1), 1)[:, None]
        xy = np.clip(xy, lo, hi)
    else:
        xy = _grid_fallback(xy, lo, hi, sep)
    return xy[:, 0], xy[:, 1], height


def _grid_fallback(xy: np.ndarray, lo: float, hi: np.ndarray, sep: float) -> np.ndarray:
    """Markers that relaxation could not separate, on a hexagonal grid, each at the free grid point
    nearest to where it was (nearest first): never overlapping, still roughly where they are."""
    rows = int((hi[1] - lo) // (sep * 0.866)) + 1
    grid = [(lo + (sep / 2 if r % 2 else 0.0) + c * sep, lo + r * sep * 0.866)
            for r in range(rows) for c in range(int((hi[0] - lo - (sep / 2 if r % 2 else 0.0)) // sep) + 1)]
    grid = np.array(grid, float)
    d = np.hypot(xy[:, None, 0] - grid[None, :, 0], xy[:, None, 1] - grid[None, :, 1])
    out, free = np.empty_like(xy), np.ones(len(grid), bool)
    for i in np.argsort(d.min(axis=1), kind="stable"):  # at most MAP_MAX markers: a short loop
        j = int(np.argmin(np.where(free, d[i], np.inf)))
        out[i], free[j] = grid[j], False
    return out


def community_map(points: Sequence[dict], *, title: str = "", width: int = MAP_WIDTH) -> str:
    """An SVG map of communities: numbered markers coloured by grade, each a named link to its page.

    ``points`` are dicts with community_id, name, lon, lat, grade, and optionally ``label`` (the short
    text in the marker, default its 1-based position: the page lists the labels with the names) and
    ``grade_text`` (the grade in words, for the link's accessible name). Markers are 48 units wide and
    never overlap (:func:`map_layout`); the picture is ``width`` units wide, drawn 1:1 on a phone.

    Examples
    --------
    >>> svg = community_map([{"community_id": 1, "name": "A", "lon": 114.3, "lat": 30.6, "grade": "low"}])
    >>> "circle" in svg and "/community/1" in svg and 'aria-label="1 A"' in svg
    True
    """
    pts = [p for p in points if p.get("lon") is not None and p.get("lat") is not None]
    xs, ys, height = map_layout([float(p["lon"]) for p in pts], [float(p["lat"]) for p in pts], width=width)
    # The markers are links: a group, not an image (role=img would hide them from assistive tech).
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="group" aria-label="{escape(title)}">', f"<title>{escape(title)}</title>",
             f'<rect x="0" y="0" width="{width}" height="{height}" rx="8" fill="#f1f3f4"/>']
    for i, (p, x, y) in enumerate(zip(pts, xs, ys)):
        colour = GRADE_COLOURS.get(str(p.get("grade")), GRADE_COLOURS["unknown"])
        label = str(p.get("label") or i + 1)
        # the accessible name starts with the visible number (WCAG 2.5.3 label in name), then the name and grade
        name = f"{label} {p.get('name', '')}" + (f", {p['grade_text']}" if p.get("grade_text") else "")
        parts.append(
            f'<a href="/community/{int(p["community_id"])}" aria-label="{escape(name)}">'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{MARKER_RADIUS}" fill="{colour}" stroke="#fff" stroke-width="2"/>'
            f'<text x="{x:.1f}" y="{y + 6:.1f}" text-anchor="middle" font-weight="700" fill="#fff">'
            f'{escape(label)}</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)
