# factview: the GraphQL API and the consumers (`factview serve`); point it at Kafka and a MongoDB replica set.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/factview
COPY pyproject.toml requirements.lock README.md ./
# app/devstack (the dev stack: embedded servers, `factview dev`) is left out by .dockerignore.
COPY app ./app
COPY schema ./schema
COPY consumers ./consumers
COPY upstream ./upstream
RUN pip install -c requirements.lock . \
 && useradd --system --uid 10001 --no-create-home factview

USER factview
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
CMD ["factview", "serve", "--host", "0.0.0.0", "--port", "8000"]
