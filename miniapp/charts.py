"""Small server-side SVG charts: pages stay light and work without JavaScript."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

GRADE_COLOURS = {
    "slight": "#1e7b34",
    "low": "#2f6f9f",
    "medium_low": "#8a6100",
    "medium_high": "#b3410e",
    "high": "#a3141c",
    "unknown": "#5c5f66",
}


def _scale(values: Sequence[float], lo: float, hi: float, out_lo: float, out_hi: float) -> list[float]:
    span = (hi - lo) or 1.0
    return [out_lo + (v - lo) / span * (out_hi - out_lo) for v in values]


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
) -> str:
    """An SVG line of ``values`` by date, with an optional forecast band and median after it.

    Examples
    --------
    >>> svg = line_chart(["2020-01-01", "2020-01-02"], [1.0, 2.0], title="t")
    >>> svg.startswith("<svg") and "polyline" in svg
    True
    """
    pad_l, pad_r, pad_t, pad_b = 44, 10, 20, 28
    all_dates = list(dates) + [d for d in (band_dates or []) if d not in set(dates)]
    n = max(len(all_dates), 2)
    xs = _scale(range(n), 0, n - 1, pad_l, width - pad_r)
    x_of = {d: x for d, x in zip(all_dates, xs)}
    ys_all = [v for v in values if v is not None]
    if band:
        ys_all += list(band[0]) + list(band[1])
    if median:
        ys_all += list(median)
    top = max(ys_all + [1e-9]) * 1.1
    y = lambda v: _scale([v], 0.0, top, height - pad_b, pad_t)[0]  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" stroke="#8a8f98"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        v = top / 1.1 * frac
        parts.append(f'<text x="{pad_l - 4}" y="{y(v) + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{v:.3g}</text>')
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


def community_map(points: Sequence[dict], *, width: int = 600, height: int = 420, title: str = "") -> str:
    """An SVG map of communities as dots coloured by grade, each a link to its page.

    ``points`` are dicts with community_id, name, lon, lat, grade.

    Examples
    --------
    >>> svg = community_map([{"community_id": 1, "name": "A", "lon": 114.3, "lat": 30.6, "grade": "low"}])
    >>> "circle" in svg and "/community/1" in svg
    True
    """
    pad = 16
    pts = [p for p in points if p.get("lon") is not None and p.get("lat") is not None]
    # The dots are links: a group, not an image (role=img would hide them from assistive tech).
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="group" aria-label="{escape(title)}">', f"<title>{escape(title)}</title>"]
    if pts:
        lons = [float(p["lon"]) for p in pts]
        lats = [float(p["lat"]) for p in pts]
        xs = _scale(lons, min(lons), max(lons), pad, width - pad)
        ys = _scale(lats, min(lats), max(lats), height - pad, pad)
        for p, x, yv in zip(pts, xs, ys):
            colour = GRADE_COLOURS.get(str(p.get("grade")), GRADE_COLOURS["unknown"])
            parts.append(
                f'<a href="/community/{int(p["community_id"])}"><circle cx="{x:.1f}" cy="{yv:.1f}" r="6" fill="{colour}">'
                f"<title>{escape(str(p.get('name', '')))}</title></circle></a>"
            )
    parts.append("</svg>")
    return "".join(parts)
