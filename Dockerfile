# The spotify-elt application image: the locked environment and the project.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    SPOTIFY_ELT_CONFIG_DIR=/home/elt/config \
    SPOTIFY_ELT_DATA_DIR=/home/elt/data \
    SPOTIFY_ELT_STATE_DIR=/home/elt/state

RUN pip install --no-cache-dir uv && useradd --create-home elt
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY . .
RUN uv sync --locked --no-dev && chown -R elt /app
USER elt
ENTRYPOINT ["spotify-elt"]
CMD ["run"]
