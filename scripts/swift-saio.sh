#!/usr/bin/env bash
# A 3-node OpenStack Swift cluster on loopback ("Swift all in one"), for the S3 tests.
#
#   swift-saio.sh start DIR [PORT_BASE]   write configs and rings under DIR, start everything
#   swift-saio.sh stop DIR                stop what `start` started (and nothing else)
#   swift-saio.sh kill DIR SERVER         stop one server, e.g. object-2
#   swift-saio.sh revive DIR SERVER       start it again
#   swift-saio.sh repair DIR              one replicator and updater pass on every node
#
# Debian's packages (scripts/install-system-deps.sh): swift, swift-proxy, swift-object,
# swift-container, swift-account, python3-swift (s3api is in it) and memcached. Every file
# lives under DIR. Swift reads /etc/swift/swift.conf from that fixed path and has no
# variable to move it, so the servers run in a private mount namespace where DIR/etc is
# bound over /etc/swift: the host's /etc is never written. Rings have 3 replicas on 3
# nodes (one device each), mount_check is off, the proxy speaks S3 (s3api + tempauth,
# access key test:tester, secret testing) on PORT_BASE, memcached listens on PORT_BASE+1
# and node N's object/container/account servers on PORT_BASE+10N+0/1/2. Runs as root.
set -euo pipefail

usage() { echo "usage: $0 start|stop|repair DIR [PORT_BASE] | kill|revive DIR SERVER" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$(realpath -m "$2")
region=${SAIO_REGION:-us-east-1}

# Run a command inside the cluster's mount namespace.
in_ns() { nsenter --mount --target "$(cat "$dir/run/ns.pid")" -- "$@"; }

start_server() {  # NAME (object-2, proxy, ...): start it in the background, remember its pid
  local name=$1 kind conf
  kind=${name%-*}
  if [ "$name" = proxy ]; then conf=$dir/etc/proxy-server.conf
  else conf=$dir/etc/$kind-server/${name#*-}.conf; fi
  nsenter --mount --target "$(cat "$dir/run/ns.pid")" -- "/usr/bin/swift-$kind-server" "$conf" \
    </dev/null >>"$dir/log/$name.log" 2>&1 &
  echo $! >"$dir/run/$name.pid"
}

stop_pidfile() {  # PIDFILE: end that process (ours: we wrote the file), wait for it
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

server_conf() {  # KIND N PORT
  local kind=$1 n=$2 port=$3
  mkdir -p "$dir/node$n/sdb$n"
  cat <<EOF
[DEFAULT]
devices = $dir/node$n
mount_check = false
disable_fallocate = true
bind_ip = 127.0.0.1
bind_port = $port
workers = 0
user = root
swift_dir = /etc/swift
recon_cache_path = $dir/cache/node$n
log_name = $kind-$n
log_level = WARNING
# Listings may lag a write whose container update timed out (then left to the updater);
# a generous timeout keeps them current on one loaded disk.
container_update_timeout = 20

[pipeline:main]
pipeline = $kind-server

[app:$kind-server]
use = egg:swift#$kind

[$kind-replicator]
[$kind-updater]
[$kind-auditor]
EOF
  [ "$kind" = container ] && printf '[container-sync]\n[container-sharder]\n'
  return 0
}

write_config() {  # PORT_BASE
  local base=$1 kind n off
  mkdir -p "$dir"/{etc,run,log,cache/node1,cache/node2,cache/node3}
  cat >"$dir/etc/swift.conf" <<EOF
[swift-hash]
swift_hash_path_prefix = wharfie-saio
swift_hash_path_suffix = wharfie-saio

[storage-policy:0]
name = Policy-0
default = yes
EOF
  for kind in object container account; do
    mkdir -p "$dir/etc/$kind-server"
    case $kind in object) off=0 ;; container) off=1 ;; account) off=2 ;; esac
    for n in 1 2 3; do
      server_conf "$kind" "$n" $((base + 10 * n + off)) >"$dir/etc/$kind-server/$n.conf"
    done
    ( cd "$dir/etc"
      swift-ring-builder "$kind.builder" create 8 3 0 >/dev/null
      for n in 1 2 3; do
        swift-ring-builder "$kind.builder" add \
          "r1z$n-127.0.0.1:$((base + 10 * n + off))/sdb$n" 100 >/dev/null
      done
      swift-ring-builder "$kind.builder" rebalance >/dev/null || true )
  done
  cat >"$dir/etc/proxy-server.conf" <<EOF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $base
workers = 1
user = root
swift_dir = /etc/swift
log_name = proxy
log_level = WARNING

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true

[filter:s3api]
use = egg:swift#s3api
location = $region
s3_acl = false

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$((base + 1))

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
EOF
  echo "$base" >"$dir/run/port"
}

wait_ready() {  # poll the proxy until an authenticated account HEAD answers
  local port
  port=$(cat "$dir/run/port")
  for _ in $(seq 300); do
    if curl -sf -o /dev/null -H 'X-Storage-User: test:tester' -H 'X-Storage-Pass: testing' \
        "http://127.0.0.1:$port/auth/v1.0"; then
      return 0
    fi
    sleep 0.1
  done
  echo "swift-saio: the proxy did not answer; logs in $dir/log" >&2
  return 1
}

case $cmd in
  start)
    [ -d /etc/swift ] || { echo "swift-saio: /etc/swift missing: install swift first" >&2; exit 1; }
    [ ! -f "$dir/run/ns.pid" ] || { echo "swift-saio: already running in $dir" >&2; exit 1; }
    base=${3:-18080}
    write_config "$base"
    memcached -u root -l 127.0.0.1 -p $((base + 1)) -U 0 -m 64 -P "$dir/run/memcached.pid" -d \
      </dev/null >>"$dir/log/memcached.log" 2>&1
    # The namespace holder: a private mount namespace with DIR/etc over /etc/swift.
    unshare --mount --propagation private -- sh -c \
      "mount --bind '$dir/etc' /etc/swift && exec sleep infinity" \
      </dev/null >>"$dir/log/namespace.log" 2>&1 &
    echo $! >"$dir/run/ns.pid"
    for _ in $(seq 100); do
      [ "$(nsenter --mount --target "$(cat "$dir/run/ns.pid")" -- \
        sed -n 's/^swift_hash_path_prefix = //p' /etc/swift/swift.conf 2>/dev/null)" = \
        wharfie-saio ] && break
      sleep 0.05
    done
    for kind in object container account; do
      for n in 1 2 3; do start_server "$kind-$n"; done
    done
    start_server proxy
    wait_ready
    echo "endpoint=http://127.0.0.1:$base"
    echo "region=$region"
    echo "access_key=test:tester"
    echo "secret_key=testing"
    ;;
  stop)
    for f in "$dir"/run/*-[0-9].pid "$dir/run/proxy.pid" "$dir/run/memcached.pid" \
             "$dir/run/ns.pid"; do
      stop_pidfile "$f"
    done
    ;;
  kill)
    [ $# -eq 3 ] || usage
    stop_pidfile "$dir/run/$3.pid"
    ;;
  revive)
    [ $# -eq 3 ] || usage
    start_server "$3"
    ;;
  repair)
    for n in 1 2 3; do
      for job in object-replicator object-updater container-replicator container-updater \
                 account-replicator; do
        kind=${job%-*}
        in_ns "/usr/bin/swift-$job" "$dir/etc/$kind-server/$n.conf" once \
          >>"$dir/log/repair.log" 2>&1
      done
    done
    ;;
  *) usage ;;
esac
