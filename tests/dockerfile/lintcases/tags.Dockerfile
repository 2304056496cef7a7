FROM ubuntu AS base
RUN echo base

FROM node:latest AS web
RUN echo web

FROM base
COPY --from=web /x /x
USER root
