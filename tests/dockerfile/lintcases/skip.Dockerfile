# check=skip=JSONArgsRecommended,LatestTag;error=true
FROM alpine:latest
RUN apk add --no-cache tini
CMD tini -- sleep infinity
MAINTAINER nobody
