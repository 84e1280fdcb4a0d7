"""Limits the benches measure eventsys against, served by the same gunicorn: eventsys's URLs plus bare
DRF views that store the same rows with nothing else (bench/baselines/urls.py)."""
