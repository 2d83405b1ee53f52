# Edge: one uvicorn worker per container; scale with more containers over one Redis.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# dependencies first: this layer changes only when pyproject.toml does
COPY pyproject.toml README.md ./
RUN mkdir -p edge models && touch edge/__init__.py models/__init__.py \
    && pip install . && pip uninstall -y edge-personalization

COPY edge ./edge
COPY models ./models
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 edge \
    && mkdir -p /data/artifacts && chown edge /data/artifacts

USER edge
ENV EDGE_ARTIFACTS=/data/artifacts
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=2s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=1)"
CMD ["edge", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "1"]
