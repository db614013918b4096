"""The Flask application factory: the one place where settings, stores and blueprints meet."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from miniapp import config as settings, errors, i18n, metrics, security, services
from miniapp.response_cache import ResponseCache

log = logging.getLogger(__name__)

# Blueprints by module path; each module defines ``bp``. Order matters only for URL conflicts.
BLUEPRINTS = [
    "miniapp.views.pages",
    "miniapp.views.api",
    "miniapp.views.card",
    "miniapp.views.verify",
    "bot.sms",
    "bot.chat",
    "miniapp.views.phone",
    "miniapp.views.markets",
    "miniapp.views.open_data",
    "miniapp.views.places",
]


def _package_dir(name: str, fallback: str) -> str:
    """Where an installed resource package lives; the repository folder when run from source."""
    spec = importlib.util.find_spec(name)
    if spec is not None and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return str(Path(__file__).resolve().parents[1] / fallback)


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    """Create the riskcard web app.

    Settings come from defaults, then the environment (``RISKCARD_*``), then ``config``.

    Examples
    --------
    >>> app = create_app({"TESTING": True, "SECRET_KEY": "t" * 32, "PSEUDONYM_KEY": "00" * 16})
    >>> app.test_client().get("/healthz").status_code in (200, 503)
    True
    """
    app = Flask(
        __name__,
        template_folder=_package_dir("miniapp.templates", "templates"),
        static_folder=_package_dir("miniapp.static", "static"),
    )
    app.config.update(settings.defaults())
    app.config.update(settings.from_environ())
    if config:
        app.config.update(config)
    _check_secrets(app)
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_CONTENT_LENGTH"])
    hops = int(app.config.get("TRUST_PROXY_HOPS") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)  # type: ignore[method-assign]


    app.extensions["riskcard"] = services.Services.from_config(app.config)
    i18n.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    for module_name in BLUEPRINTS:
        if importlib.util.find_spec(module_name) is None:
            log.warning("blueprint module %s is not installed", module_name)
            continue
        app.register_blueprint(importlib.import_module(module_name).bp)

    app.wsgi_app = metrics.CountRequests(app.wsgi_app)  # type: ignore[method-assign]  # the cache counts its hits
    app.wsgi_app = ResponseCache(app.wsgi_app, _snapshot_key(app), i18n.pick_language)  # type: ignore[method-assign]

    @app.get("/healthz")
    def healthz():
        """Alive: the process answers. No dependency is looked at (that is /readyz)."""
        return {"alive": True}, 200

    @app.get("/readyz")
    def readyz():
        """Ready: the served snapshot is sound and the state store answers; else 503 and why."""
        health = app.extensions["riskcard"].health()
        reasons = ([] if health["snapshot"] else ["snapshot: " + _snapshot_problem(app, health)]) + \
            ([] if health["state"] else ["state store unreachable"])
        body = {**health, "ready": not reasons, **({"reason": "; ".join(reasons)} if reasons else {})}
        return body, (200 if not reasons else 503), ({} if not reasons else {"Retry-After": "5"})

    @app.before_request
    def _count_request() -> None:
        g.lang = i18n.pick_language(request)

    return app


def _snapshot_problem(app: Flask, health: dict) -> str:
    if health.get("snapshot_damaged"):
        return f"{health.get('damaged_snapshot')} is damaged"
    try:
        return str(app.extensions["riskcard"].snapshot_status()["error"] or "not readable")
    except Exception as exc:  # noqa: BLE001 - the reason is best effort; the status is what counts
        return f"not readable ({type(exc).__name__})"


def _snapshot_key(app: Flask):
    services = app.extensions["riskcard"]
    last: list = [(None, None)]  # (store, its sha256): meta() copies the whole meta, once per store is enough

    def key() -> str | None:
        try:
            store = services.store()
        except Exception:  # noqa: BLE001 - no cache rather than an error; the app reports the problem
            return None
        if store is None:
            return None
        seen, sha = last[0]
        if seen is not store:
            sha = store.meta()["sha256"]
            last[0] = (store, sha)
        return sha

    return key


def _check_secrets(app: Flask) -> None:
    missing = [k for k in ("SECRET_KEY", "PSEUDONYM_KEY") if not app.config.get(k)]
    if missing:
        names = ", ".join(settings.env_name(k) for k in missing)
        raise RuntimeError(f"set {names} (riskcard demo generates them for a local demo)")
    key = bytes.fromhex(str(app.config["PSEUDONYM_KEY"]))
    if len(key) < 16:
        raise RuntimeError("RISKCARD_PSEUDONYM_KEY must be at least 16 bytes of hex")
