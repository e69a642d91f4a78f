# mailbot: the daemon in a plain Debian slim image, running as a non-root user; every version pinned
# (the base image, the Debian package, the Python packages from requirements.lock, which the tests run on).
#   docker build -t mailbot .
#   docker run -v /srv/mailbot/mailbot.toml:/etc/mailbot/mailbot.toml:ro \
#              -v /srv/mailbot/data:/var/lib/mailbot -e MAILBOT_BP_IMAP_PASSWORD=... mailbot
FROM python:3.11.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1=1:5.44-3 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
COPY pyproject.toml README.md ./
COPY mailbot ./mailbot
COPY templates ./templates
COPY config ./config
RUN pip install --no-cache-dir --no-deps .

RUN useradd --system --create-home --home-dir /var/lib/mailbot --shell /usr/sbin/nologin mailbot
USER mailbot
ENV MAILBOT_HOME=/app \
    MAILBOT_CONFIG=/etc/mailbot/mailbot.toml \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/mailbot"]
EXPOSE 9464

# Healthy while the daemon's heartbeat is fresh and reports nothing wrong (no hung message, the mailbox
# read, no mail stuck retrying) and the database answers.
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 CMD ["mailbot", "health"]

ENTRYPOINT ["mailbot"]
CMD ["run"]
