FROM debian:12-slim
ADD app.py /app/
ADD https://example.com/tool.tar.gz /opt/
ADD vendor.tar.gz /opt/vendor/
WORKDIR /opt
RUN cd /opt && make
USER 1000
