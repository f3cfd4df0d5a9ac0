# tsbot: one image for every process (api, serve, scheduler, worker). Build: docker build -t tsbot .
# Stage 1 builds wheels with the compilers; stage 2 installs them into a slim image and runs as a non-root user.

FROM python:3.11-slim AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TSBOT_DATA_DIR=/var/lib/tsbot \
    TSBOT_API__HOST=0.0.0.0 \
    TSBOT_API__PORT=8000
RUN groupadd --system tsbot && useradd --system --gid tsbot --home-dir /var/lib/tsbot --create-home tsbot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER tsbot
WORKDIR /var/lib/tsbot
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=4).status == 200 else 1)"
# `tsbot serve` by default; the compose file runs `tsbot api`, `tsbot scheduler` and `tsbot worker` from this image.
CMD ["tsbot", "serve", "--host", "0.0.0.0", "--port", "8000"]
