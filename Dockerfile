# One image for every process of the service; the command picks the process:
#   watchtime-gateway (default), watchtime-flusher, watchtime-sweeper, watchtime-migrate.
# Redis and PostgreSQL are separate containers (docker-compose.yml): the image has no
# embedded servers. Build with --build-arg EXTRAS=loadtest for the Locust image.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/watchtime
ENV PATH=/opt/watchtime/bin:$PATH
WORKDIR /src
ARG EXTRAS=""
# Dependencies first, from pyproject.toml alone: a code change does not reinstall them.
COPY pyproject.toml ops/docker/requirements.py ./
RUN python requirements.py $EXTRAS > requirements.txt \
 && pip install -r requirements.txt
COPY . .
RUN pip install ".${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
ENV PATH=/opt/watchtime/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0
RUN useradd --system --user-group --uid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin watchtime
COPY --from=build /opt/watchtime /opt/watchtime
WORKDIR /app
# The Locust scenarios and Locust's configuration file, for `locust` (the loadtest service).
COPY loadtest ./loadtest
COPY locust.conf ./
USER watchtime
# Gateway HTTP (PORT); flusher and sweeper /metrics (FLUSHER_/SWEEPER_METRICS_PORT).
EXPOSE 8000 9101 9102
# Health checks live in docker-compose.yml: each process has its own endpoint.
CMD ["watchtime-gateway"]
