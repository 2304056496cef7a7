FROM alpine:3.19
RUN apk add curl
WORKDIR /src
RUN apk add --no-cache git
USER nobody
ENTRYPOINT ["/bin/sh"]
