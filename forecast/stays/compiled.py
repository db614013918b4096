"""``njit_cached``: numba's ``njit`` with the machine code cached on disk where it can be.

The compiled code is cached in ``NUMBA_CACHE_DIR`` when that is set, else next to the module
(``__pycache__``), else in numba's per-user cache; without any usable place (a read-only install) it
is compiled in every process (a few seconds), never failing.
"""

from __future__ import annotations

import numba

__all__ = ["njit_cached"]


def njit_cached(fn=None, **kw):
    """``numba.njit(cache=True, nogil=True, **kw)``, without the cache when no cache directory is usable.

    Parameters
    ----------
    fn : callable, optional
        The function to compile; without it, a decorator taking the function.
    **kw
        Further ``numba.njit`` options (e.g. ``inline="always"``).

    Returns
    -------
    callable
        The compiled function (compiled lazily, on its first call).

    Examples
    --------
    >>> @njit_cached
    ... def twice(x):
    ...     return 2 * x
    >>> twice(21)
    42
    """
    if fn is None:
        return lambda f: njit_cached(f, **kw)
    try:
        return numba.njit(cache=True, nogil=True, **kw)(fn)
    except RuntimeError:  # "cannot cache function ...: no locator available" (read-only install)
        return numba.njit(nogil=True, **kw)(fn)
