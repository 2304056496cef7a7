FROM debian:12
RUN apt-get update && apt-get install -y curl
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
RUN echo done
CMD ["bash"]
