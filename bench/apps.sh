#!/usr/bin/env bash
# The cost of keeping app launchers in step with the apps root (issue 19
# item 3): every `magpkg app` command, each launcher included, compares a
# fingerprint of the root first.
#   1. `magpkg app run` of a tiny app when nothing changed (the fingerprint
#      only) against the same run with MAGPKG_APPS pointing at a root holding
#      that one app;
#   2. the same run right after an edit of one app's .mpkg (fingerprint and
#      a full re-integration of every app);
#   3. `magpkg app integrate` (always a full pass).
# APPS=N sets the number of apps (default 100, two variants each).
# Run from the repository root after `cargo build --release`
# (MAGPKG=/path/to/magpkg to use another build).
set -euo pipefail

MAGPKG=${MAGPKG:-${CARGO_TARGET_DIR:-$PWD/target}/release/magpkg}
APPS=${APPS:-100}
for tool in "$MAGPKG" hyperfine; do
  command -v "$tool" >/dev/null || {
    echo "bench/apps.sh needs $tool" >&2
    exit 1
  }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data \
  XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache \
  MAGPKG_STATE=$work/state/magpkg MAGPKG_STORE=$work/store \
  MAGPKG_BIN_DIR=$work/bin MAGPKG_APPLICATIONS_DIR=$work/applications
mkdir -p "$HOME"

make_app() { # root name
  for v in 1 2; do
    d=$1/$2/package/$2-$v
    mkdir -p "$d"
    printf '#!/bin/sh\nexit 0\n' >"$d/run.sh"
    chmod +x "$d/run.sh"
    printf "version = '%s'\ncontent = [{'name': '%s', 'file': 'run.sh'}]\n" "$v" "$2" >"$d/MPKG"
  done
  printf "add_to_path = '%s'\nadd_to_apps = '%s'\n" "$2" "$2" >"$1/$2/$2.mpkg"
}
for i in $(seq 1 "$APPS"); do make_app "$work/apps" "app$i"; done
make_app "$work/one" app1

export MAGPKG_APPS=$work/apps
"$MAGPKG" app integrate >/dev/null 2>&1
echo "== $APPS apps: app run with nothing changed, vs a root of one app"
hyperfine -N --warmup 5 --runs 50 \
  -n "run, $APPS apps" "$MAGPKG app run app1" \
  -n "run, 1 app" "env MAGPKG_APPS=$work/one MAGPKG_STATE=$work/state-one $MAGPKG app run app1"
echo "== app run right after an edit of one .mpkg (full re-integration)"
hyperfine -N --warmup 2 --runs 20 \
  --prepare "touch $work/apps/app7/app7.mpkg" \
  -n "run after an edit, $APPS apps" "$MAGPKG app run app1"
echo "== app integrate (always a full pass)"
hyperfine -N --warmup 2 --runs 20 -n "integrate, $APPS apps" "$MAGPKG app integrate"
