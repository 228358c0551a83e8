# RevOps AI: one image for the web server and the worker (compose.yaml runs both).
# Untested here (no Docker engine on the development machine); see README "Deploying with Docker".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=revops.settings \
    REVOPS_DATA_DIR=/var/lib/revops \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    WEB_BIND=0.0.0.0:8000

WORKDIR /app

# Dependencies first (psycopg[binary] and the other wheels need no compiler), so a code change
# does not reinstall them. The project installs no package of its own (the code runs from /app).
COPY pyproject.toml ./
RUN pip install .

COPY . .

# Static files into the image (whitenoise serves them). Settings need a key and a database URL to
# load; these build-time placeholders are never used at run time and nothing connects.
RUN DJANGO_SECRET_KEY=collectstatic-only \
    FIELD_ENCRYPTION_KEYS=ZmFrZS1rZXktZm9yLWNvbGxlY3RzdGF0aWMtb25seS0xMjM= \
    DATABASE_URL=postgres://build@127.0.0.1:1/build \
    REVOPS_DATA_DIR=/tmp/build-data \
    python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /tmp/build-data

RUN useradd --system --uid 10001 --home-dir /var/lib/revops --create-home revops
USER revops

EXPOSE 8000
# The web server; the worker runs `python manage.py qcluster` from the same image.
CMD ["python", "-m", "gunicorn", "-c", "revops/gunicorn_conf.py", "revops.wsgi:application"]
