FROM centos
LABEL org.opencontainers.image.title=x
RUN cd /tmp && curl -O https://example.com/x && cd / && echo ok
RUN apt-get install -y vim
FROM alpine:latest
RUN apk add --update python3
ADD . /app
CMD ["python3"]
USER 0
