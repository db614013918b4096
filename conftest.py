# Modules that run side effects on import (WSGI entry, gunicorn config) and scripts are not collected.
collect_ignore = ["miniapp/wsgi.py", "miniapp/gunicorn_conf.py"]
collect_ignore_glob = ["benchmarks/*", "scripts/*", ".venv*/*"]
