#!/bin/sh
# Entering a realised project environment, the commands a developer and CI
# run all the time:
#   magpkg shell -- true   (target: <= 10 ms)   cached state, then exec
#   magpkg env --id        (target: <= 10 ms)   the CI cache key
# next to `direnv exec DIR true` on an allowed .envrc setting the same PATH
# (Debian package `direnv`), and /bin/true for the cost of a process.
#
# The environment is a local package (a tarball with one script, unpacked by
# the `unpack` builtin), so the benchmark needs no network and no compiler.
#
# Recorded on the 2-core development machine while 8 builds shared it (load
# average 10, so wall times are mostly waiting for a core), with a dev-profile
# binary (dependencies at opt-level 2, magpkg unoptimised):
#                          min wall   CPU (user + sys)
#   magpkg shell -- true     5.8 ms     5.8 ms
#   magpkg env --id          3.7 ms     5.0 ms
#   direnv exec . true      34.0 ms    36.4 ms
#   /bin/true                0.7 ms     0.8 ms
# Targets (issue 5): <= 10 ms for both magpkg commands.
#
# Usage: bench/env.sh [MAGPKG_BINARY]   (default: target/release/magpkg)
# Run from the repository root after `cargo build --release`.
set -eu

magpkg=${1:-${CARGO_TARGET_DIR:-target}/release/magpkg}
if [ ! -x "$magpkg" ]; then
    echo "no magpkg binary at $magpkg: run cargo build --release, or pass its path" >&2
    exit 1
fi
magpkg=$(cd "$(dirname "$magpkg")" && pwd)/$(basename "$magpkg")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp/home" XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data"
export XDG_STATE_HOME="$tmp/state" MAGPKG_STORE="$tmp/store" MAGPKG_STATE="$tmp/magpkg-state"
mkdir -p "$HOME" "$tmp/pkg/bin" "$tmp/proj"

# shellcheck disable=SC2016 # the script expands $1 when it runs
printf '#!/bin/sh\necho "Hello, ${1:-world}!"\n' > "$tmp/pkg/bin/greet"
chmod +x "$tmp/pkg/bin/greet"
tar -C "$tmp/pkg" -czf "$tmp/greet-1.0.tar.gz" bin
sha=$(sha256sum "$tmp/greet-1.0.tar.gz" | cut -d' ' -f1)
cat > "$tmp/proj/magnet.jsonnet" <<JSONNET
{
  packages: [{
    name: "greet",
    version: "1.0",
    sources: [{ filename: "greet-1.0.tar.gz", sha256: "$sha", urls: ["file://$tmp/greet-1.0.tar.gz"] }],
    build: { builtin: "unpack" },
  }],
  env: { GREETING: "hi" },
}
JSONNET
cd "$tmp/proj"
"$magpkg" source add "$tmp/greet-1.0.tar.gz" >/dev/null 2>&1 || true
# Realise once (and check it works) so the benchmark measures the cached path.
"$magpkg" shell -- greet bench

profile=$("$magpkg" env --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["profile"])')
printf 'PATH_add %s/bin\nexport GREETING=hi\n' "$profile" > .envrc
direnv allow . 2>/dev/null

hyperfine -N --warmup 10 \
    --command-name 'magpkg shell -- true' "$magpkg shell -- true" \
    --command-name 'magpkg env --id' "$magpkg env --id" \
    --command-name 'direnv exec . true' "direnv exec . true" \
    --command-name '/bin/true' "/bin/true"
