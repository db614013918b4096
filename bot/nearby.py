"""Replies to 附近 / NEAR (nearest published case places) and 门诊 / CLINIC (nearest open clinics).

The texts never say "all clear": a snapshot without the feed says the places were not published;
no place within the radius says only that none was published there; clinics whose hours are not
published are never called open (docs/places.md).
"""

from __future__ import annotations

from typing import Any

from bot import replies as R

TEXTS = {
    "ask": {"zh": "请发 附近+小区名 查附近病例场所,或 门诊+小区名 查附近开放的发热门诊(如 附近 bbt)。",
            "en": "Text NEAR <community> for the nearest case places, or CLINIC <community> for open fever clinics."},
    "not_published": {"zh": "{name}:本次数据未包含公布的病例场所,无法判断附近是否有。",
                      "en": "{name}: this data holds no published case places, so we cannot tell what is nearby."},
    "none_within": {"zh": "{name}:{km}公里内没有公布的病例场所(仅指已公布的)。",
                    "en": "{name}: no published case place within {km} km (only what was published)."},
    "places": {"zh": "{name}附近病例场所:{items}。", "en": "Case places near {name}: {items}."},
    "no_clinics_feed": {"zh": "{name}:本次数据未包含发热门诊名单,无法查询。",
                        "en": "{name}: this data holds no list of fever clinics, so we cannot look them up."},
    "clinics": {"zh": "{name}附近此刻开放:{items}。", "en": "Open now near {name}: {items}."},
    "no_open": {"zh": "{name}附近没有按公布时间此刻开放的门诊。", "en": "No clinic near {name} is open now by its published hours."},
    "unknown_hours": {"zh": "开放时间未公布:{items},请先致电。", "en": "Hours not published: {items}; call first."},
    "more": {"zh": "详情", "en": "More"},
}


def _t(key: str, lang: str, **fields: Any) -> str:
    return TEXTS[key]["en" if lang == "en" else "zh"].format(**fields)


def _km(distance_m: float) -> str:
    return f"{distance_m / 1000:.1f}km"


def near_text(name: str, near: dict, lang: str, channel: str, link: str, shown: int = 3) -> str:
    """The reply to NEAR: the nearest published case places with distances, and a link.

    Parameters
    ----------
    name : str
        The community's name.
    near : dict
        :func:`miniapp.snapshot.places.nearest_case_places`'s answer.
    lang, channel : str
        ``zh``/``en``; ``sms``/``chat``.
    link : str
        The places page of the community.
    shown : int
        Places named.

    Returns
    -------
    str

    Examples
    --------
    >>> near_text("百步亭", {"published": True, "radius_m": 50000.0,
    ...     "places": [{"name": "超市", "distance_m": 160.0, "last_date": "2020-02-03"}]}, "zh", "chat", "L")
    '百步亭附近病例场所:超市 0.2km(至2020-02-03)。 详情 L'
    >>> near_text("A", {"published": False, "places": []}, "en", "sms", "L").startswith("A: this data holds no")
    True
    """
    if not near.get("published"):
        body = _t("not_published", lang, name=name)
    elif not near.get("places"):
        body = _t("none_within", lang, name=name, km=int(near.get("radius_m", 0) / 1000))
    else:
        until = "(至{d})" if lang != "en" else " (to {d})"
        items = ("、" if lang != "en" else "; ").join(
            f"{p['name']} {_km(p['distance_m'])}" + until.format(d=p.get("last_date") or "")
            for p in near["places"][:shown])
        body = _t("places", lang, name=name, items=items)
    return R.fit(f"{body} {_t('more', lang)} {link}", channel, link)


def clinic_text(name: str, near: dict, lang: str, channel: str, link: str, shown: int = 2) -> str:
    """The reply to CLINIC: the nearest clinics open now (with hours and phone), and those of unknown hours.

    Parameters
    ----------
    name : str
        The community's name.
    near : dict
        :func:`miniapp.snapshot.places.nearest_clinics`'s answer.
    lang, channel : str
        ``zh``/``en``; ``sms``/``chat``.
    link : str
        The clinics page of the community.
    shown : int
        Clinics named in each list.

    Returns
    -------
    str

    Examples
    --------
    >>> clinic_text("A", {"published": True, "open": [{"name": "H", "distance_m": 2100.0, "hours": "24h",
    ...     "phone": "027-1234"}], "hours_unknown": [{"name": "S", "distance_m": 300.0}]}, "en", "chat", "L")
    'Open now near A: H 2.1km, 24h, 027-1234. Hours not published: S 0.3km; call first. More L'
    """
    if not near.get("published"):
        return R.fit(f"{_t('no_clinics_feed', lang, name=name)} {_t('more', lang)} {link}", channel, link)
    sep = "、" if lang != "en" else "; "
    parts = []
    if near.get("open"):
        items = sep.join(f"{c['name']} {_km(c['distance_m'])}, {c['hours']}" + (f", {c['phone']}" if c.get("phone") else "")
                         for c in near["open"][:shown])
        parts.append(_t("clinics", lang, name=name, items=items))
    else:
        parts.append(_t("no_open", lang, name=name))
    if near.get("hours_unknown"):
        items = sep.join(f"{c['name']} {_km(c['distance_m'])}" for c in near["hours_unknown"][:shown])
        parts.append(_t("unknown_hours", lang, items=items))
    return R.fit(" ".join(parts) + f" {_t('more', lang)} {link}", channel, link)


def ask_text(lang: str) -> str:
    """How to ask (NEAR or CLINIC without a community).

    Examples
    --------
    >>> ask_text("en").startswith("Text NEAR")
    True
    """
    return _t("ask", lang)
