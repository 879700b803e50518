# syntax=docker/dockerfile:1
#
# vigil in a container image:
#   docker build -t vigil:dev --build-arg VERSION=$(git describe --always) .
#   docker run --rm --network host vigil:dev agent -dev
#
# Stage 1 builds a static binary (no cgo, so it runs on any Linux base).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/vigil ./cmd/vigil

# Stage 2 is the image that runs. Not distroless/static or scratch, though
# the binary would run there: hooks given as `shell:` or `-hook` run under
# /bin/sh -c, and most hook scripts want a shell and a few tools (wget,
# sed, date). Alpine gives busybox's sh and those tools for about 8 MB.
# If your hooks need bash, glibc or curl, build FROM debian:bookworm-slim
# (about 75 MB) and install them; if every hook is an argv `command:` of a
# static binary you copy in, distroless/static works too.
FROM alpine:3.22
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 7946 vigil \
 && adduser -S -D -H -u 7946 -G vigil -h /var/lib/vigil -s /sbin/nologin vigil \
 && install -d -m 0700 -o vigil -g vigil /var/lib/vigil \
 && install -d -m 0755 /etc/vigil
COPY --from=build /out/vigil /usr/local/bin/vigil
USER vigil:vigil
WORKDIR /var/lib/vigil
# Gossip (serf's port) on TCP and UDP, and the HTTP API. The API listens on
# 127.0.0.1 unless http is set; off loopback it needs http_token.
EXPOSE 7946/tcp 7946/udp 7947/tcp
# For data_dir (serf snapshot, gossip keyring): set data_dir:
# /var/lib/vigil or VIGIL_DATA_DIR=/var/lib/vigil. Not set here, because an
# image variable would override a config file's data_dir. Logs are JSON
# when stderr is not a terminal.
VOLUME ["/var/lib/vigil"]
# The agent's own API, from inside the container (plain HTTP on loopback;
# with TLS or another address, override or drop this).
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD wget -q -O /dev/null http://127.0.0.1:7947/healthz || exit 1
# SIGTERM (docker stop) makes the agent leave the cluster gracefully; give
# it time: docker stop -t 30.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/vigil"]
# Configure with VIGIL_* variables, or mount a file and run
# `agent -config /etc/vigil/vigil.yaml` (or set VIGIL_CONFIG).
CMD ["agent"]
