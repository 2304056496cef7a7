# syntax=docker/dockerfile:1
FROM debian:12-slim AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv
COPY package.json ./
USER 1000:1000
ENTRYPOINT ["/srv/run"]
CMD ["--serve"]
