FROM debian:12 AS builder
RUN --mount=type=cache,target=/var/lib/apt/lists apt-get update
RUN apt-get update && apt-get install -y --no-install-recommends make
RUN --mount=type=cache,target=/root/.cache make

FROM debian:12
COPY --from=builder /out /out
RUN apt-get update && apt-get install -y --no-install-recommends tini
ONBUILD RUN apk add curl
USER app
CMD ["tini", "--", "/out/app"]
