#!/bin/sh
# Benchmark of binary caches (issue 12), side by side in one run:
#  1. substituting a ~100 MB closure from a loopback nginx into an empty
#     store, against `curl | zstd -d | tar -x` of the same archives
#     (target: ratio <= 1.2);
#  2. re-pushing an unchanged 1,000-package cache (target: the index read
#     once, no archive uploaded);
#  3. a substituter that accepts connections and never answers: a build of
#     a package already in the store (not slowed), and of a missing one
#     (falls back to building after about 1 s).
#
# Packages are host directories packed into source tarballs and unpacked by
# the `unpack` builtin, so the data is real binaries and text.
#
# Usage: bench/cache.sh [MAGPKG]   (default: target/release/magpkg)
# Needs: hyperfine, nginx, curl, zstd, GNU tar, python3.
set -eu

MAGPKG=${1:-${CARGO_TARGET_DIR:-target}/release/magpkg}
MAGPKG=$(realpath "$MAGPKG")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/magpkg-cache-bench.XXXXXX")
NGINX_PID=
SILENT_PID=
cleanup() {
    if [ -n "$NGINX_PID" ]; then kill "$NGINX_PID" 2>/dev/null || true; fi
    if [ -n "$SILENT_PID" ]; then kill "$SILENT_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state"
export MAGPKG_STATE="$WORK/state/magpkg" MAGPKG_STORE="$WORK/store-a"
mkdir -p "$HOME"

# packages FILE DIR... : a Jsonnet list of packages, one per directory.
packages() {
    out=$1; shift
    mkdir -p "$WORK/src"
    {
        echo "["
        for d in "$@"; do
            n=$(echo "$d" | tr -c 'a-zA-Z0-9\n' '-' | sed 's/^-*//')
            f="$WORK/src/$n.tar"
            tar -C "$d" --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf "$f" .
            sha=$(sha256sum "$f" | cut -d' ' -f1)
            echo "  { name: '$n', version: '1', build: { builtin: 'unpack' },"
            echo "    sources: [{ filename: '$n.tar', sha256: '$sha', urls: ['file://$f'] }] },"
        done
        echo "]"
    } > "$out"
}

"$MAGPKG" key generate bench > "$WORK/bench.pub"
PUB=$(cat "$WORK/bench.pub")
CACHE="$WORK/cache"

echo "== 1. substituting a ~100 MB closure from nginx on loopback"
# About 110 MB in 42 packages: Python's library, Perl's, and translations.
# shellcheck disable=SC2046 # directory names without spaces, split on purpose
set -- $(find /usr/lib/python3.11 -mindepth 1 -maxdepth 1 -type d ! -name __pycache__ | sort) \
    /usr/lib/x86_64-linux-gnu/perl /usr/lib/x86_64-linux-gnu/perl-base \
    /usr/share/locale/de /usr/share/locale/fr /usr/share/locale/es /usr/share/locale/ja \
    /usr/share/locale/ru /usr/share/locale/pt_BR /usr/share/locale/it
packages "$WORK/closure.jsonnet" "$@"
"$MAGPKG" -q --no-substitute build -f "$WORK/closure.jsonnet" > /dev/null
du -sh "$MAGPKG_STORE/pkgs-v1"
"$MAGPKG" -q cache push "file://$CACHE" --key bench --all
du -sh "$CACHE/magpkg-cache-v1/archives"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/nginx/tmp"
cat > "$WORK/nginx/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 64; }
http { access_log off; client_body_temp_path $WORK/nginx/tmp/b; proxy_temp_path $WORK/nginx/tmp/p;
  fastcgi_temp_path $WORK/nginx/tmp/f; uwsgi_temp_path $WORK/nginx/tmp/u; scgi_temp_path $WORK/nginx/tmp/s;
  sendfile on; server { listen 127.0.0.1:$PORT; root $CACHE; } }
CONF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" & NGINX_PID=$!
sleep 1
URL="http://127.0.0.1:$PORT"
ls "$CACHE/magpkg-cache-v1/archives" > "$WORK/archives.txt"
cat > "$WORK/curl-all.sh" <<SH
#!/bin/sh
set -e
rm -rf "$WORK/plain"; mkdir -p "$WORK/plain"
while read -r a; do
  mkdir "$WORK/plain/\$a"
  curl -sf "$URL/magpkg-cache-v1/archives/\$a" | zstd -dq | tar -C "$WORK/plain/\$a" -x
done < "$WORK/archives.txt"
SH
hyperfine --warmup 1 --runs 5 \
    --prepare "rm -rf '$WORK/store-b'" \
    -n "magpkg build (substitute)" \
    "MAGPKG_STORE='$WORK/store-b' MAGPKG_SUBSTITUTERS='$URL' MAGPKG_TRUSTED_KEYS='$PUB' '$MAGPKG' -q --substitute-only build -f '$WORK/closure.jsonnet'" \
    -n "curl | zstd -d | tar -x" "sh '$WORK/curl-all.sh'"

echo "== 2. re-pushing an unchanged 1,000-package cache"
mkdir -p "$WORK/many"
{
    echo "["
    i=0
    while [ $i -lt 1000 ]; do
        mkdir -p "$WORK/many/p$i"; echo "package $i" > "$WORK/many/p$i/README"
        f="$WORK/many/p$i.tar"
        tar -C "$WORK/many/p$i" --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf "$f" .
        sha=$(sha256sum "$f" | cut -d' ' -f1)
        echo "{ name: 'p$i', version: '1', build: { builtin: 'unpack' }, sources: [{ filename: 'p$i.tar', sha256: '$sha', urls: ['file://$f'] }] },"
        i=$((i + 1))
    done
    echo "]"
} > "$WORK/many.jsonnet"
export MAGPKG_STORE="$WORK/store-many"
"$MAGPKG" -q --no-substitute build -j 2 -f "$WORK/many.jsonnet" > /dev/null
time "$MAGPKG" -q cache push "file://$WORK/cache-many" --key bench --all
touch "$WORK/pushed"
sleep 1
hyperfine --warmup 1 --runs 5 \
    -n "magpkg cache push (1,000 unchanged)" "'$MAGPKG' cache push 'file://$WORK/cache-many' --key bench --all"
echo "files of the cache written by the re-pushes: $(find "$WORK/cache-many" -type f -newer "$WORK/pushed" | wc -l)"

echo "== 3. a substituter that never answers"
python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(64); print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' > "$WORK/silent.port" & SILENT_PID=$!
sleep 1
SILENT="http://127.0.0.1:$(cat "$WORK/silent.port")"
export MAGPKG_STORE="$WORK/store-a"
echo "[ { name: 'tiny', version: '1', build: { builtin: 'unpack' }, sources: [{ filename: 'p1.tar', sha256: '$(sha256sum "$WORK/many/p1.tar" | cut -d' ' -f1)', urls: ['file://$WORK/many/p1.tar'] }] } ]" > "$WORK/tiny.jsonnet"
"$MAGPKG" -q --no-substitute build -f "$WORK/tiny.jsonnet" > /dev/null
hyperfine --warmup 2 --runs 10 \
    -n "present, no substituter" "'$MAGPKG' -q build -f '$WORK/tiny.jsonnet'" \
    -n "present, silent substituter" "MAGPKG_SUBSTITUTERS='$SILENT' MAGPKG_TRUSTED_KEYS='$PUB' '$MAGPKG' -q build -f '$WORK/tiny.jsonnet'"
hyperfine --runs 5 --prepare "rm -rf '$WORK/store-t'" \
    -n "missing, no substituter (build)" "MAGPKG_STORE='$WORK/store-t' '$MAGPKG' -q build -f '$WORK/tiny.jsonnet'" \
    -n "missing, silent substituter (fallback)" "MAGPKG_STORE='$WORK/store-t' MAGPKG_SUBSTITUTERS='$SILENT' MAGPKG_TRUSTED_KEYS='$PUB' '$MAGPKG' -q build -f '$WORK/tiny.jsonnet' 2>/dev/null"
