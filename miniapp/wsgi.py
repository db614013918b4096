"""WSGI entry point: ``gunicorn -c python:miniapp.gunicorn_conf miniapp.wsgi:app``.

Settings come from the environment (docs/settings.md)."""

from miniapp.app import create_app

app = create_app()
