# One image for every process: the command picks serve, worker or sender.
#   docker run IMAGE serve --host 0.0.0.0      (web: links, postbacks, API)
#   docker run IMAGE worker                    (streams -> PostgreSQL)
#   docker run IMAGE sender                    (postbacks to affiliates)
# Set DATABASE_URL and REDIS_URL; run `docker run IMAGE migrate` once per release.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    TRACKER_DATA_DIR=/data ENVIRONMENT=production

RUN useradd --create-home --uid 10001 tracker && mkdir /data && chown tracker /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
# Editable, so the app finds migrations/ beside it.
RUN pip install -e .

USER tracker
VOLUME /data
EXPOSE 8000
ENTRYPOINT ["tracker"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
