# syntax=docker/dockerfile:1
# The gridtalk app image: one image for every app process (api, bot, worker, and the one-shot migrate).
# docker-compose.yml picks the process with `command:`; the default is the api.
# Rasa is NOT in this image: it pins SQLAlchemy 1.4 and pydantic 1 and runs from the official rasa/rasa image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv

RUN pip install --no-cache-dir uv==0.13.8 \
    && groupadd --system --gid 10001 gridtalk \
    && useradd --system --uid 10001 --gid gridtalk --home-dir /app --no-create-home --shell /usr/sbin/nologin gridtalk

WORKDIR /app

# Dependencies first (their own layer: rebuilt only when the lock changes).
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the project. It stays an editable install rooted at /app, so templates/, migrations/ and
# alembic.ini are found both relative to the working directory and relative to the packages.
COPY core ./core
COPY api ./api
COPY bot ./bot
COPY nlu ./nlu
COPY gridtalk ./gridtalk
COPY templates ./templates
COPY migrations ./migrations
COPY alembic.ini ./alembic.ini
RUN uv sync --frozen --no-dev \
    && mkdir -p /app/var \
    && chown gridtalk:gridtalk /app/var

# The code is owned by root and read-only for the app user; only /app/var is writable.
USER 10001:10001

ENV PATH="/app/.venv/bin:$PATH" \
    GRIDTALK_API_HOST=0.0.0.0

EXPOSE 8000
CMD ["gridtalk", "api"]
