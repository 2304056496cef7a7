FROM golang:1.22 AS build
WORKDIR /src
RUN go version
RUN go env
RUN go mod download

FROM gcr.io/distroless/static:nonroot
COPY --from=build /src/app /app
USER nonroot
ENTRYPOINT ["/app"]
