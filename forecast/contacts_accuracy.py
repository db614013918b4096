"""How well the companion search finds true contacts: recall and precision against a truth table."""

from __future__ import annotations

import pandas as pd


def companion_accuracy(
    found: pd.DataFrame, truth: pd.DataFrame, *, min_shared_minutes: float = 60, band_minutes: float = 15
) -> dict:
    """Recall and precision of found (case_id, uid) pairs against true contacts.

    A true companion has true shared minutes ``>= min_shared_minutes``; a found pair counts as correct
    when it is a true companion. ``recall_outside_band`` and ``precision_outside_band`` leave out
    pairs whose true time is within ``band_minutes`` of the threshold (where sparse pings cannot
    decide): recall over true pairs ``>= min + band``, precision against true ``>= min - band``.

    Examples
    --------
    >>> found = pd.DataFrame({"case_id": ["a", "a"], "uid": [1, 2], "shared_minutes": [70.0, 65.0]})
    >>> truth = pd.DataFrame({"case_id": ["a", "a"], "uid": [1, 3], "shared_minutes": [80.0, 90.0]})
    >>> companion_accuracy(found, truth)["recall"]
    0.5
    """
    t = truth[truth["shared_minutes"] >= min_shared_minutes]
    f = found[found["shared_minutes"] >= min_shared_minutes]
    tk = set(zip(t["case_id"].astype(str), t["uid"].astype("int64")))
    fk = set(zip(f["case_id"].astype(str), f["uid"].astype("int64")))
    hit = len(tk & fk)
    t_hi = truth[truth["shared_minutes"] >= min_shared_minutes + band_minutes]
    t_lo = truth[truth["shared_minutes"] >= min_shared_minutes - band_minutes]
    thk = set(zip(t_hi["case_id"].astype(str), t_hi["uid"].astype("int64")))
    tlk = set(zip(t_lo["case_id"].astype(str), t_lo["uid"].astype("int64")))
    return {
        "true_pairs": len(tk),
        "found_pairs": len(fk),
        "recall": hit / len(tk) if tk else 1.0,
        "precision": hit / len(fk) if fk else 1.0,
        "recall_outside_band": len(thk & fk) / len(thk) if thk else 1.0,
        "precision_outside_band": len(tlk & fk) / len(fk) if fk else 1.0,
    }
