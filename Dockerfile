# Edge: one uvicorn worker per container; scale out with more containers over one Redis (compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# implicit (ALS in `edge build`) and faiss need the OpenMP runtime
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# dependencies first, pinned by constraints.txt: this layer changes only when the pins do
COPY constraints.txt ./
RUN pip install --no-cache-dir -r constraints.txt

COPY pyproject.toml setup.py README.md ./
COPY edge ./edge
COPY models ./models
# the compiled core (edge._kernels, edge/_kernels.c) needs a C compiler for this one step: installed and
# purged in the same layer, so the image carries the built extension and no compiler; the import checks it built
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-cache-dir --no-deps -c constraints.txt . \
    && python -I -c "import edge._kernels" \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 edge \
    && useradd --system --create-home --uid 10001 --gid edge edge \
    && mkdir -p /data/artifacts \
    && chown edge:edge /data/artifacts

USER 10001:10001
ENV EDGE_ARTIFACTS=/data/artifacts
VOLUME ["/data/artifacts"]
EXPOSE 8000
# ready = build loaded and consistent, store reachable; the first start may build the demo store
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["edge", "serve", "--host", "0.0.0.0", "--port", "8000"]
