#!/bin/sh
# Origin cost of the binary cache with and without the swarm (issue 13).
#
# A closure of 4 packages of incompressible data (SIZE_MB in total, default
# 100) is built and pushed to a cache directory that nginx serves on
# loopback (the origin). Then N (default 5) empty stores substitute the
# closure AT ONCE:
#   A. HTTP only (no swarm: DHT off, no tracker): every leecher downloads
#      everything from nginx;
#   B. the swarm with the cache as its web seed: leechers find each other
#      through a loopback tracker (bench/tracker.py), nobody seeds; each
#      takes pieces from nginx through its web seed bridge and the rest from
#      the others;
# and, for the time a lone client takes through its web seed,
#   C. one leecher alone, swarm on (tracker, no peer), nginx the web seed.
# Origin bytes come from nginx's access log ($body_bytes_sent).
# Then the no-peer fallback: a magnet nobody seeds listed before a working
# HTTP URL, timed with hyperfine (swarmWait 3 s, the default).
#
# Usage: bench/swarm.sh [MAGPKG]   (default: target/release/magpkg)
# Needs: nginx, python3, hyperfine.
set -eu

MAGPKG=${1:-${CARGO_TARGET_DIR:-target}/release/magpkg}
MAGPKG=$(realpath "$MAGPKG")
SIZE_MB=${SIZE_MB:-100}
N=${N:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/magpkg-swarm-bench.XXXXXX)
PIDS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    sleep 0.5
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state"
export MAGPKG_STATE="$WORK/state/magpkg" MAGPKG_DHT=0
mkdir -p "$HOME"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The closure: blob1 with run-time dependencies blob2..blob4.
PART=$((SIZE_MB / 4))
for i in 1 2 3 4; do
    mkdir -p "$WORK/src/blob$i/share"
    head -c "${PART}M" /dev/urandom >"$WORK/src/blob$i/share/data"
    tar -C "$WORK/src/blob$i" -czf "$WORK/blob$i-1.0.tar.gz" share
done
{
    echo "local p(n) = { name: 'blob' + n, version: '1.0', build: { builtin: 'unpack' },"
    echo "  sources: [{ filename: 'blob%d-1.0.tar.gz' % n, urls: ['file://$WORK/blob%d-1.0.tar.gz' % n],"
    printf "    sha256: {"
    for i in 1 2 3 4; do printf "'%s': '%s', " "$i" "$(sha256sum "$WORK/blob$i-1.0.tar.gz" | cut -c1-64)"; done
    echo "}[std.toString(n)] }] };"
    echo "p(1) + { runDeps: [p(2), p(3), p(4)] }"
} >"$WORK/closure.jsonnet"
export MAGPKG_STORE="$WORK/origin"
"$MAGPKG" --quiet --no-substitute build -f "$WORK/closure.jsonnet" >/dev/null
KEY=$("$MAGPKG" key generate bench)
"$MAGPKG" --quiet cache push "file://$WORK/cache" --key bench -f "$WORK/closure.jsonnet" >/dev/null
CLOSURE=$(du -cb "$WORK"/cache/magpkg-cache-v1/archives/* | tail -1 | cut -f1)

# nginx serving the cache, logging the bytes of each answer.
NGINX_PORT=$(port)
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1; pid $WORK/nginx/pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 256; }
http {
  log_format bytes '\$body_bytes_sent \$request';
  access_log $WORK/nginx/access.log bytes;
  client_body_temp_path $WORK/nginx/tmp/b; proxy_temp_path $WORK/nginx/tmp/p;
  fastcgi_temp_path $WORK/nginx/tmp/f; uwsgi_temp_path $WORK/nginx/tmp/u; scgi_temp_path $WORK/nginx/tmp/s;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/cache; }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
PIDS="$PIDS $!"
TRACKER_PORT=$(port)
python3 "$HERE/tracker.py" "$TRACKER_PORT" &
PIDS="$PIDS $!"
sleep 1
served() { awk '{s += $1} END {print s + 0}' "$WORK/nginx/access.log"; }
ratio() { python3 -c "print(f'{$1 / $CLOSURE:.2f}')"; }
leech() { # leech NAME [trackers]: substitute the closure into store NAME
    mkdir -p "$WORK/cfg-$1/magpkg"
    echo "{ trackers: [$2] }" >"$WORK/cfg-$1/magpkg/config.jsonnet"
    XDG_CONFIG_HOME="$WORK/cfg-$1" MAGPKG_STORE="$WORK/$1" MAGPKG_SUBSTITUTERS="http://127.0.0.1:$NGINX_PORT" \
        MAGPKG_TRUSTED_KEYS="$KEY" "$MAGPKG" --quiet --substitute-only build -f "$WORK/closure.jsonnet" >/dev/null 2>"$WORK/log-$1"
}
at_once() { # at_once PREFIX TRACKERS: N leechers at the same time
    L=
    for i in $(seq $N); do
        leech "$1$i" "$2" &
        L="$L $!"
    done
    for p in $L; do wait "$p"; done
}
echo "closure: 4 packages, archives $CLOSURE bytes"

# A: HTTP only.
: >"$WORK/nginx/access.log"
t0=$(date +%s.%N)
at_once a ""
t1=$(date +%s.%N)
A=$(served)
echo "A (HTTP only, $N at once): nginx served $A bytes = $(ratio "$A") x closure, $(python3 -c "print(f'{$t1-$t0:.1f}')") s"

# B: the swarm, nginx its web seed; leechers at once, tracker-connected.
: >"$WORK/nginx/access.log"
t0=$(date +%s.%N)
at_once b "'http://127.0.0.1:$TRACKER_PORT/announce'"
t1=$(date +%s.%N)
B=$(served)
echo "B (swarm + web seed, $N at once, tracker, nobody seeds): nginx served $B bytes = $(ratio "$B") x closure, $(python3 -c "print(f'{$t1-$t0:.1f}')") s"

# C: one leecher alone through its web seed.
: >"$WORK/nginx/access.log"
t0=$(date +%s.%N)
leech c1 "'http://127.0.0.1:$TRACKER_PORT/announce'"
t1=$(date +%s.%N)
C=$(served)
echo "C (swarm + web seed, 1 leecher, no peer): nginx served $C bytes = $(ratio "$C") x closure, $(python3 -c "print(f'{$t1-$t0:.1f}')") s"

# The no-peer fallback: magnet first (nobody seeds it), then HTTP.
[ -z "${SKIP_FALLBACK:-}" ] || exit 0
head -c 1M /dev/urandom >"$WORK/cache/lonely-1.0.tar.gz"
SHA=$(sha256sum "$WORK/cache/lonely-1.0.tar.gz" | cut -c1-64)
MAGNET=$(MAGPKG_STORE="$WORK/m" "$MAGPKG" source add "$WORK/cache/lonely-1.0.tar.gz" >/dev/null &&
    MAGPKG_STORE="$WORK/m" "$MAGPKG" source magnet "$SHA")
DEAD=$(port)
hyperfine -w 1 -r 5 --export-markdown "$WORK/fallback.md" \
    --prepare "rm -rf $WORK/f" \
    "MAGPKG_STORE=$WORK/f MAGPKG_DHT=1 MAGPKG_DHT_BOOTSTRAP=127.0.0.1:$DEAD $MAGPKG --quiet source fetch --sha256 $SHA '$MAGNET' http://127.0.0.1:$NGINX_PORT/lonely-1.0.tar.gz" \
    "MAGPKG_STORE=$WORK/f $MAGPKG --quiet source fetch --sha256 $SHA http://127.0.0.1:$NGINX_PORT/lonely-1.0.tar.gz"
cat "$WORK/fallback.md"
