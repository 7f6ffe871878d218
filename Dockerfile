# Production image: gunicorn by default; the same image runs the Celery worker and beat with another
# command (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system campanile \
    && useradd --system --gid campanile --home-dir /app --no-create-home campanile

WORKDIR /app

# Requirements alone first, so a code change does not reinstall every dependency.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Settings refuse to load without a key; this one exists only for this build step and is never
# part of the image's environment.
RUN DJANGO_SECRET_KEY=collectstatic-build-only python manage.py collectstatic --noinput \
    && mkdir -p var \
    && chown campanile:campanile var

# The code stays root-owned so the running app cannot rewrite itself; only var/ (the embedded
# filesystem broker, when no CELERY_BROKER_URL is given) is writable.
USER campanile

EXPOSE 8000

CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
