# The whole API on one port, as `make dev` serves it, under gunicorn: every function's
# app mounted under /v1/<function> by devtools/gateway.py. For people who prefer
# containers (compose.yaml adds PostgreSQL); production runs on Cloud Functions.
#
#   docker compose up --build        # http://localhost:8080/docs
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8080

WORKDIR /app

# The lock with every function's dependencies (firebase-admin included), compiled for
# Python 3.12 (`make lock`), the functions' runtime and this image's.
COPY requirements/runtime-notifications.txt requirements/runtime-notifications.txt
RUN pip install --no-compile -r requirements/runtime-notifications.txt \
    && useradd --create-home --uid 10001 sealy \
    && install -d -o sealy -g sealy /app/.sealy

COPY alembic.ini functions.json pyproject.toml ./
COPY common/ common/
COPY functions/ functions/
COPY migrations/ migrations/
COPY devtools/ devtools/
COPY scripts/serve_gateway.py scripts/serve_gateway.py

USER sealy
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/v1/auth/health', timeout=2)"]

CMD ["python", "scripts/serve_gateway.py"]
