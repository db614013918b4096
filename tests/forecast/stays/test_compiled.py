from forecast.stays import compiled


def test_jit_falls_back_to_no_cache_when_no_cache_directory_is_usable(monkeypatch):
    calls = []

    def njit(**kw):
        calls.append(kw)
        if kw.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return lambda fn: fn

    monkeypatch.setattr(compiled.numba, "njit", njit)
    assert compiled.njit_cached(len)("abc") == 3
    assert [c.get("cache", False) for c in calls] == [True, False]
