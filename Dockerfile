FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DATA_DIR=/data
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files (admin, API docs) are collected into the image and served by WhiteNoise.
RUN SECRET_KEY=collectstatic-only DEBUG=false STATIC_ROOT=/app/static python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 eventsys && mkdir -p /data && chown eventsys /data
USER eventsys
ENV STATIC_ROOT=/app/static
EXPOSE 8000
# Workers, threads and keep-alive: gunicorn.conf.py (WEB_CONCURRENCY, WEB_THREADS).
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
