# synthd image: the API (`synthd serve`) and the worker (`synthd worker`) share it.
#   CPU (default):  docker build -t synthd .
#   CUDA torch:     docker build -t synthd:cuda --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 .
FROM python:3.11-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SYNTHD_DATA_DIR=/data \
    SYNTHD_HOST=0.0.0.0

WORKDIR /srv/synthd
RUN pip install "torch==${TORCH_VERSION}" --extra-index-url "${TORCH_INDEX_URL}"

COPY pyproject.toml README.md alembic.ini ./
COPY synth synth
COPY app app
COPY worker worker
COPY synthd synthd
COPY migrations migrations
COPY examples examples
COPY client client
# Editable, so that `synthd migrate` finds alembic.ini and migrations/ beside the code; the client for the CLI.
RUN pip install -e ".[s3]" -e ./client \
    && useradd --create-home --uid 10001 synthd \
    && mkdir -p /data && chown synthd /data

USER synthd
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
CMD ["synthd", "serve", "--host", "0.0.0.0", "--port", "8000"]
