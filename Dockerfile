# mailbot: the daemon in a plain Debian slim image, running as a non-root user.
#   docker build -t mailbot .
#   docker run -v /srv/mailbot/mailbot.toml:/etc/mailbot/mailbot.toml:ro \
#              -v /srv/mailbot/data:/var/lib/mailbot -e MAILBOT_BP_IMAP_PASSWORD=... mailbot
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY mailbot ./mailbot
COPY templates ./templates
COPY config ./config
RUN pip install --no-cache-dir ".[postgres]"

RUN useradd --system --create-home --home-dir /var/lib/mailbot --shell /usr/sbin/nologin mailbot
USER mailbot
ENV MAILBOT_HOME=/app \
    MAILBOT_CONFIG=/etc/mailbot/mailbot.toml \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/mailbot"]

# Healthy while the daemon's heartbeat is fresh and the database answers.
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 CMD ["mailbot", "health"]

ENTRYPOINT ["mailbot"]
CMD ["run"]
