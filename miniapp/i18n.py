"""Chinese first, English on request: ``?lang=en`` (remembered in a cookie) or Accept-Language.

Templates write both languages side by side: ``{{ tr("风险等级", "Risk grade") }}``.
"""

from __future__ import annotations

from flask import Flask, Request, g, request
from flask.wrappers import Response

LANGUAGES = ("zh", "en")
COOKIE = "lang"


def pick_language(req: Request) -> str:
    """The language of a request: explicit parameter, then cookie, then browser, then Chinese.

    Examples
    --------
    >>> from werkzeug.test import EnvironBuilder
    >>> pick_language(Request(EnvironBuilder(query_string="lang=en").get_environ()))
    'en'
    >>> pick_language(Request(EnvironBuilder(headers={"Accept-Language": "en-US,en"}).get_environ()))
    'en'
    >>> pick_language(Request(EnvironBuilder().get_environ()))
    'zh'
    """
    asked = req.args.get("lang") or req.cookies.get(COOKIE)
    if asked in LANGUAGES:
        return asked
    best = req.accept_languages.best_match(["zh", "zh-CN", "en"])
    return "en" if best and best.startswith("en") else "zh"


def tr(zh: str, en: str) -> str:
    """Pick the text of the request's language (Chinese outside a request)."""
    return en if getattr(g, "lang", "zh") == "en" else zh


def lang_url(code: str) -> str:
    """This page in language ``code``, keeping the rest of its query (a search stays a search)."""
    from urllib.parse import urlencode

    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"] + [("lang", code)]
    return f"{request.path}?{urlencode(args)}"


def local_time(value: object, tz: str = "Asia/Shanghai") -> str:
    """An ISO time shown in local time to the minute; anything else unchanged.

    Examples
    --------
    >>> local_time("2020-02-01T03:14:10+00:00")
    '2020-02-01 11:14'
    >>> local_time("2020-02-01")
    '2020-02-01'
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    text = str(value or "")
    if "T" not in text:
        return text
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def init_app(app: Flask) -> None:
    app.jinja_env.globals["tr"] = tr
    app.jinja_env.globals["lang_url"] = lang_url
    app.jinja_env.filters["localtime"] = lambda v: local_time(v, str(app.config.get("TZ", "Asia/Shanghai")))

    @app.context_processor
    def _lang() -> dict[str, str]:
        return {"lang": getattr(g, "lang", "zh")}

    @app.after_request
    def _remember(resp: Response) -> Response:
        resp.vary.add("Accept-Language")
        resp.vary.add("Cookie")
        asked = request.args.get("lang")
        if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
            resp.set_cookie(COOKIE, asked, max_age=365 * 86400, samesite="Lax", secure=request.is_secure)
        return resp
