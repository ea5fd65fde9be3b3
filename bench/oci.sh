#!/bin/sh
# Benchmark of `magpkg oci` (issue 8):
#  1. time to export a project environment of about 100 MB as an image
#     archive, against `tar -c | gzip` of the same package trees
#     (target: ratio <= 1.2);
#  2. peak memory while exporting a closure of about 1 GB (target: <= 100 MB).
#
# The environments are made of host directories: each becomes a source
# tarball (file:// URL, pinned sha256) unpacked by the `unpack` builtin, so
# the data is real binaries and text, and the build step costs nothing.
#
# Usage: bench/oci.sh [MAGPKG]    (default: target/release/magpkg)
# Needs: hyperfine, GNU time (/usr/bin/time), GNU tar, gzip, sha256sum.
set -eu

MAGPKG=${1:-${CARGO_TARGET_DIR:-target}/release/magpkg}
MAGPKG=$(realpath "$MAGPKG")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/magpkg-oci-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
export MAGPKG_STORE="$WORK/store"
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state"
mkdir -p "$HOME"

# project NAME DIR... : a project whose packages are the given directories.
project() {
    name=$1; shift
    dir="$WORK/$name"
    mkdir -p "$dir/src"
    {
        echo "{ name: '$name', packages: ["
        i=0
        for d in "$@"; do
            i=$((i + 1))
            f="$dir/src/p$i.tar"
            tar -C "$d" --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf "$f" .
            sha=$(sha256sum "$f" | cut -d' ' -f1)
            echo "  { name: 'p$i', version: '1', build: { builtin: 'unpack' },"
            echo "    sources: [{ filename: 'p$i.tar', sha256: '$sha', urls: ['file://$f'] }] },"
        done
        echo "] }"
    } > "$dir/magnet.jsonnet"
    # First export builds (unpacks) everything; the timed runs only export.
    "$MAGPKG" oci --env "$dir" -o "$WORK/warm.tar" > /dev/null
    rm -f "$WORK/warm.tar"
}

echo "== ~100 MB environment: magpkg oci vs tar | gzip"
project env100 /usr/lib/python3.11 /usr/lib/python3
du -sh "$MAGPKG_STORE/pkgs-v1"
hyperfine --warmup 1 --runs 5 \
    -n "magpkg oci" "'$MAGPKG' oci --env '$WORK/env100' -o '$WORK/img.tar'" \
    -n "tar | gzip" "tar -C '$MAGPKG_STORE/pkgs-v1' -c . | gzip > '$WORK/ref.tar.gz'"
ls -l "$WORK/img.tar" "$WORK/ref.tar.gz"
rm -rf "$MAGPKG_STORE" "$WORK/env100" "$WORK"/*.tar "$WORK"/*.gz

echo "== ~1 GB closure: peak memory"
project env1g /usr/lib/x86_64-linux-gnu /usr/share/locale /usr/lib/gcc /usr/share/doc
du -sh "$MAGPKG_STORE/pkgs-v1"
/usr/bin/time -v "$MAGPKG" oci --env "$WORK/env1g" -o "$WORK/big.tar" 2>&1 \
    | grep -E 'Maximum resident set size|Elapsed'
ls -l "$WORK/big.tar"
