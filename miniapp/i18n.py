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


def init_app(app: Flask) -> None:
    app.jinja_env.globals["tr"] = tr

    @app.context_processor
    def _lang() -> dict[str, str]:
        return {"lang": getattr(g, "lang", "zh")}

    @app.after_request
    def _remember(resp: Response) -> Response:
        asked = request.args.get("lang")
        if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
            resp.set_cookie(COOKIE, asked, max_age=365 * 86400, samesite="Lax", secure=request.is_secure)
        return resp
