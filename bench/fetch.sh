#!/usr/bin/env bash
# Fetch benchmarks, all on loopback:
#   1. 64 MiB over HTTP: `magpkg source fetch` vs `curl` (target: ratio <= 1.1)
#   2. 64 MiB from a `magpkg seed` seeder: magpkg by magnet vs aria2c on the
#      same magnet (target: ratio <= 1.0)
#   3. peak memory of magpkg fetching a 1 GiB file (HTTP and BitTorrent;
#      target: <= 100 MB)
# Needs: hyperfine, curl, aria2c, python3, /usr/bin/time (GNU time).
# Usage: bench/fetch.sh [path/to/magpkg]   (default: target/release/magpkg)
set -euo pipefail
cd "$(dirname "$0")/.."
MAGPKG=$(realpath "${1:-${CARGO_TARGET_DIR:-target}/release/magpkg}")
[ -x "$MAGPKG" ] || { echo "build first: cargo build --release" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/home/config XDG_DATA_HOME=$WORK/home/data
export MAGPKG_DHT=0 MAGPKG_STALL_TIMEOUT=30
mkdir -p "$WORK/www" "$HOME"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "port $1 not open" >&2; exit 1; }

# A minimal BitTorrent HTTP tracker (compact peers): aria2c cannot be given
# a peer address, it needs a tracker to find the seeder.
cat >"$WORK/tracker.py" <<'EOF'
import sys, urllib.parse, socket, struct
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
peers = {}
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        q = urllib.parse.urlparse(self.path).query
        kv = dict(p.split("=", 1) for p in q.split("&") if "=" in p)
        ih = urllib.parse.unquote_to_bytes(kv.get("info_hash", ""))
        me = (self.client_address[0], int(kv.get("port", "0")))
        lst = peers.setdefault(ih, [])
        others = [p for p in lst if p != me]
        if me not in lst and kv.get("event") != "stopped": lst.append(me)
        compact = b"".join(socket.inet_aton(h) + struct.pack(">H", p) for h, p in others)
        body = b"d8:intervali5e5:peers%d:%se" % (len(compact), compact)
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF

HTTP_PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$HTTP_PORT" >/dev/null 2>&1 &
PIDS+=($!)
TRACKER_PORT=$(free_port)
python3 "$WORK/tracker.py" "$TRACKER_PORT" &
PIDS+=($!)
wait_port "$HTTP_PORT"
wait_port "$TRACKER_PORT"

echo "== magpkg: $MAGPKG"
echo "== 1. 64 MiB over HTTP (loopback): magpkg vs curl"
head -c 64M /dev/urandom >"$WORK/www/f64.bin"
SHA64=$(sha256sum "$WORK/www/f64.bin" | cut -d' ' -f1)
URL64="http://127.0.0.1:$HTTP_PORT/f64.bin"
hyperfine --warmup 2 --runs 15 --prepare "rm -rf $WORK/store $WORK/curl.out" \
  -n curl "curl -sf -o $WORK/curl.out $URL64" \
  -n "curl + sha256sum" "curl -sf -o $WORK/curl.out $URL64 && sha256sum $WORK/curl.out >/dev/null" \
  -n magpkg "MAGPKG_STORE=$WORK/store $MAGPKG -q source fetch --sha256 $SHA64 $URL64"

echo "== 2. 64 MiB from a loopback magpkg seeder: magpkg vs aria2c (same magnet)"
SEED_PORT=$(free_port)
MAGPKG_STORE=$WORK/seedstore "$MAGPKG" source add "$WORK/www/f64.bin" >/dev/null
MAGNET=$(MAGPKG_STORE=$WORK/seedstore "$MAGPKG" source magnet f64.bin)
MAGPKG_STORE=$WORK/seedstore "$MAGPKG" seed --port "$SEED_PORT" \
  --tracker "http://127.0.0.1:$TRACKER_PORT/announce" >"$WORK/seed.log" &
PIDS+=($!)
for _ in $(seq 600); do grep -q '^seeding' "$WORK/seed.log" && break; sleep 0.1; done
grep -q '^seeding' "$WORK/seed.log" || { echo "seeder did not start" >&2; cat "$WORK/seed.log" >&2; exit 1; }
hyperfine --warmup 1 --runs 10 --prepare "rm -rf $WORK/store $WORK/aria" \
  -n aria2c "aria2c -q --enable-dht=false --bt-enable-lpd=false --enable-peer-exchange=false --seed-time=0 \
      --bt-tracker=http://127.0.0.1:$TRACKER_PORT/announce --dir=$WORK/aria '$MAGNET'" \
  -n magpkg "MAGPKG_STORE=$WORK/store $MAGPKG -q source fetch --sha256 $SHA64 '$MAGNET&x.pe=127.0.0.1:$SEED_PORT'"

echo "== 3. peak memory fetching 1 GiB"
head -c 1G /dev/urandom >"$WORK/www/f1g.bin"
SHA1G=$(sha256sum "$WORK/www/f1g.bin" | cut -d' ' -f1)
rm -rf "$WORK/store"
MAGPKG_STORE=$WORK/store /usr/bin/time -v "$MAGPKG" -q source fetch --sha256 "$SHA1G" \
  "http://127.0.0.1:$HTTP_PORT/f1g.bin" 2>"$WORK/time-http.txt" >/dev/null
echo "HTTP:        $(grep -E 'Maximum resident' "$WORK/time-http.txt" | awk '{print $NF}') KiB max RSS," \
  "$(grep -E 'Elapsed' "$WORK/time-http.txt" | awk '{print $NF}') elapsed"
MAGPKG_STORE=$WORK/seedstore "$MAGPKG" source add "$WORK/www/f1g.bin" >/dev/null
MAGNET1G=$(MAGPKG_STORE=$WORK/seedstore "$MAGPKG" source magnet f1g.bin)
# The running seeder picks the new source up (it hashes 1 GiB first).
for _ in $(seq 1200); do grep -q 'f1g.bin' "$WORK/seed.log" && break; sleep 0.1; done
rm -rf "$WORK/store"
MAGPKG_STORE=$WORK/store /usr/bin/time -v "$MAGPKG" -q source fetch --sha256 "$SHA1G" \
  "$MAGNET1G&x.pe=127.0.0.1:$SEED_PORT" 2>"$WORK/time-bt.txt" >/dev/null
echo "BitTorrent:  $(grep -E 'Maximum resident' "$WORK/time-bt.txt" | awk '{print $NF}') KiB max RSS," \
  "$(grep -E 'Elapsed' "$WORK/time-bt.txt" | awk '{print $NF}') elapsed"
SEED_PID=${PIDS[-1]}
echo "seeder:      $(grep VmHWM "/proc/$SEED_PID/status" | awk '{print $2}') KiB max RSS (seeding 64 MiB + 1 GiB)"
