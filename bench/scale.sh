#!/bin/sh
# How magpkg's cost grows with the work (issue 21), side by side in one run:
#  1. evaluating and hashing synthetic trees of N = 1k, 10k, 100k packages
#     (each with three random dependencies in a common core of 50), next to the C++
#     `jsonnet` (Debian package `jsonnet`) merely manifesting such trees: it
#     re-evaluates a shared dependency at every use (no memo of object
#     fields), so its cost explodes with the depth of sharing and only
#     N = 30, 60, 100 are run;
#  2. one package's closure out of each tree (laziness: flat in N);
#  3. `store list`, `store verify`, `store gc --dry-run` on a store of 10k
#     entries, `store verify` next to `b3sum` hashing the same files if it
#     is installed (`cargo install b3sum`).
# Peak memory is measured with /usr/bin/time for the largest sizes.
#
# Usage: bench/scale.sh [MAGPKG]   (default: target/release/magpkg)
# Needs: hyperfine, python3, jsonnet (optional), GNU time.
set -eu

MAGPKG=${1:-${CARGO_TARGET_DIR:-target}/release/magpkg}
MAGPKG=$(realpath "$MAGPKG")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/magpkg-scale-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/config" XDG_STATE_HOME="$WORK/state"
export MAGPKG_STATE="$WORK/state/magpkg" MAGPKG_STORE="$WORK/store" MAGPKG_SUBSTITUTE=0
mkdir -p "$HOME"

# gen N FILE: package i depends on three random packages among the first 50
# (seeded): as in real trees, most packages share a small common core, so a
# package's closure (at most 51 packages) does not grow with the tree.
gen() {
    python3 - "$1" > "$2" <<'PY'
import random, sys
n = int(sys.argv[1]); random.seed(1)
print("local t = {")
for i in range(n):
    deps = sorted(set(random.randrange(min(i, 50)) for _ in range(3))) if i >= 3 else list(range(i))
    d = ", ".join(f"t.p{j}" for j in deps)
    print(f"  p{i}: {{ name: 'p{i}', version: '1', build: 'true', buildDeps: [{d}] }},")
print("}; t")
PY
}

for n in 100 1000 10000 100000; do gen $n "$WORK/t$n.jsonnet"; done

echo "== 1. evaluate and hash N packages (magpkg eval prints the whole graph)"
set --
for n in 100 1000 10000 100000; do
    set -- "$@" -n "magpkg eval, $n" "'$MAGPKG' eval -f '$WORK/t$n.jsonnet' > /dev/null"
done
if command -v jsonnet > /dev/null; then
    for n in 30 60 100; do
        gen $n "$WORK/j$n.jsonnet"
        set -- "$@" -n "jsonnet (C++), $n" "jsonnet '$WORK/j$n.jsonnet' > /dev/null"
    done
fi
hyperfine --warmup 1 --runs 3 "$@"
for n in 10000 100000; do
    /usr/bin/time -f "peak memory, magpkg eval $n: %M KB" "$MAGPKG" eval -f "$WORK/t$n.jsonnet" > /dev/null
done

echo "== 2. one package's closure out of an N-package tree"
set --
for n in 1000 10000 100000; do
    last=$((n - 1))
    set -- "$@" -n "closure of p$last out of $n" "'$MAGPKG' eval -e \"(import '$WORK/t$n.jsonnet').p$last\" > /dev/null"
done
hyperfine --warmup 1 --runs 5 "$@"

echo "== 2b. the same, with each package in by-name/<2 letters>/NAME.jsonnet (magpkg NAME)"
# genbyname N DIR: the tree of `gen` as one file per package, and an index.
genbyname() {
    python3 - "$1" "$2" <<'PY'
import os, random, sys
n = int(sys.argv[1]); root = sys.argv[2]; random.seed(1)
def rel(i):
    name = f"p{i}"
    return f"by-name/{name[:2]}/{name}.jsonnet"
index = ["{"]
for i in range(n):
    deps = sorted(set(random.randrange(min(i, 50)) for _ in range(3))) if i >= 3 else list(range(i))
    path = os.path.join(root, rel(i))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    d = ", ".join(f"import '../../{rel(j)}'" for j in deps)
    with open(path, "w") as f:
        f.write(f"{{ name: 'p{i}', version: '1', build: 'true', buildDeps: [{d}] }}\n")
    index.append(f"  p{i}: import '{rel(i)}',")
index.append("}")
with open(os.path.join(root, "packages.jsonnet"), "w") as f:
    f.write("\n".join(index) + "\n")
PY
}
set --
for n in 1000 10000 100000; do
    genbyname $n "$WORK/byname$n"
    last=$((n - 1))
    set -- "$@" -n "by name: p$last out of $n" "'$MAGPKG' --packages '$WORK/byname$n' eval p$last > /dev/null"
done
hyperfine --warmup 1 --runs 5 "$@"
/usr/bin/time -f "peak memory, p99999 by name out of 100000: %M KB" "$MAGPKG" --packages "$WORK/byname100000" eval p99999 > /dev/null

echo "== 3. a store of 10,000 entries"
# Entries made by the unpack builtin (no sandbox) from one small tarball.
mkdir -p "$WORK/src/share/doc"
seq 1 200 > "$WORK/src/share/doc/numbers"
head -c 16384 /bin/busybox > "$WORK/src/share/doc/blob"
tar -C "$WORK/src" --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf "$WORK/s.tar" .
SHA=$(sha256sum "$WORK/s.tar" | cut -d' ' -f1)
echo "[ { name: 'e' + i, version: '1', build: { builtin: 'unpack' }, sources: [{ filename: 's.tar', sha256: '$SHA', urls: ['file://$WORK/s.tar'] }] } for i in std.range(1, 10000) ]" > "$WORK/store.jsonnet"
/usr/bin/time -f "filling the store (10,000 builds, -j 2): %e s" "$MAGPKG" -q build -j 2 -f "$WORK/store.jsonnet" > /dev/null
BYTES=$(du -sb "$WORK/store/pkgs-v1" | cut -f1)
echo "store: $(ls "$WORK/store/pkgs-v1" | grep -c "\.json$") entries, $BYTES bytes"
set -- -n "store list" "'$MAGPKG' store list > /dev/null" \
    -n "store verify" "'$MAGPKG' store verify > /dev/null" \
    -n "store gc --dry-run" "'$MAGPKG' store gc --dry-run > /dev/null"
if command -v b3sum > /dev/null; then
    set -- "$@" -n "b3sum of the same files" "find '$WORK/store/pkgs-v1' -type f -print0 | xargs -0 b3sum > /dev/null"
fi
hyperfine --warmup 1 --runs 3 "$@" --export-json "$WORK/store.json"
python3 - "$WORK/store.json" "$BYTES" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
b = int(sys.argv[2])
for k, v in r.items():
    if "verify" in k or "b3sum" in k:
        print(f"{k}: {b / v / 1e6:.0f} MB/s")
PY
/usr/bin/time -f "peak memory, store verify of 10,000: %M KB" "$MAGPKG" store verify > /dev/null
/usr/bin/time -f "peak memory, store list of 10,000: %M KB" "$MAGPKG" store list > /dev/null
/usr/bin/time -f "peak memory, store gc --dry-run of 10,000: %M KB" "$MAGPKG" store gc --dry-run > /dev/null

echo "== 4. magpkg env --id of a manifest importing 200 files"
mkdir -p "$WORK/proj200/parts"
{
    echo "{ packages: [], env: std.foldl(function(acc, p) acc + p, ["
    for i in $(seq 1 200); do
        echo "{ VAR_$i: 'part $i' }" > "$WORK/proj200/parts/p$i.libsonnet"
        echo "  import 'parts/p$i.libsonnet',"
    done
    echo "], {}) }"
} > "$WORK/proj200/magnet.jsonnet"
(cd "$WORK/proj200" && "$MAGPKG" env --id > /dev/null)
hyperfine --warmup 2 --runs 10 \
    -n "magpkg env --id (200 imports)" "cd '$WORK/proj200' && '$MAGPKG' env --id" \
    -n "sha256sum of the 201 files (a CI cache key by hand)" "cd '$WORK/proj200' && cat magnet.jsonnet parts/*.libsonnet | sha256sum"
(cd "$WORK/proj200" && /usr/bin/time -f "peak memory, env --id (200 imports): %M KB" "$MAGPKG" env --id > /dev/null)

echo "== 5. realising a profile of 500 packages"
# 500 packages each with its own program, built in the sandbox on a busybox
# root; then the environment of a manifest naming all of them.
mkdir -p "$WORK/root/bin" "$WORK/proj500"
cp /bin/busybox "$WORK/root/bin/busybox"
tar -C "$WORK/root" --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -cf "$WORK/root.tar" .
RSHA=$(sha256sum "$WORK/root.tar" | cut -d' ' -f1)
cat > "$WORK/p500.libsonnet" <<JSONNET
local root = { name: 'root', version: '1', sources: [{ filename: 'root.tar', sha256: '$RSHA', urls: ['file://$WORK/root.tar'] }],
  build: { builtin: 'rootfs', links: { '/bin/sh': 'busybox' }, busybox: 'bin/busybox', applets: ['mkdir', 'chmod'] } };
[ { name: 'tool' + i, version: '1', buildDeps: [root],
    build: 'mkdir -p \$out/bin \$out/share/doc/\$name; echo "#!/bin/sh" > \$out/bin/\$name; chmod 755 \$out/bin/\$name; echo \$name > \$out/share/doc/\$name/README' }
  for i in std.range(1, 500) ]
JSONNET
echo "{ packages: import '$WORK/p500.libsonnet' }" > "$WORK/proj500/magnet.jsonnet"
/usr/bin/time -f "building the 500 packages (-j 2): %e s" "$MAGPKG" -q build -j 2 -f "$WORK/p500.libsonnet" > /dev/null
hyperfine --warmup 1 --runs 5 \
    --prepare "rm -rf '$WORK/store/envs-v1' '$WORK/store/profiles-v1' '$WORK/proj500/magnet.lock'" \
    -n "magpkg env (realise the 500-package profile)" "cd '$WORK/proj500' && '$MAGPKG' -q env > /dev/null" \
    --prepare "rm -rf '$WORK/forest'" \
    -n "cp -rs of the 500 package trees (a symlink forest by hand)" "mkdir '$WORK/forest' && for d in '$WORK'/store/pkgs-v1/*-tool*/; do cp -rs \"\$d\". '$WORK/forest/'; done"
rm -rf "$WORK/store/envs-v1" "$WORK/proj500/magnet.lock"
(cd "$WORK/proj500" && /usr/bin/time -f "peak memory, realising the 500-package profile: %M KB" "$MAGPKG" -q env > /dev/null)
echo "(VARS=300 bash bench/hook.sh measures activation and the no-op prompt with 300 variables)"
