"""eventsys's settings with bench/baselines/urls.py as the URLconf (DJANGO_SETTINGS_MODULE=bench.baselines.settings,
with the repository root on sys.path, as under gunicorn)."""

from eventsys.settings import *  # noqa: F403

ROOT_URLCONF = "bench.baselines.urls"
