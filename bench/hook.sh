#!/usr/bin/env bash
# The shell hook's cost, side by side with direnv (Debian's 2.32):
#   1. a prompt in an unchanged project: the hook function's time per prompt
#      (magpkg decides in the shell and spawns nothing; direnv runs
#      `direnv export bash` at every prompt);
#   2. activation when cd-ing into a realised environment (`magpkg-hook bash`
#      with nothing active) against `direnv export bash` in a directory it
#      has already loaded (target: a third of it or less);
#   3. the fast path's peak memory (max RSS).
# VARS=300 bench/hook.sh gives the environment 300 variables instead of 2
# (issue 21: activation cost as environments grow).
# Run from the repository root after `cargo build --release`
# (MAGPKG=/path/to/magpkg to use another build; magpkg-hook is taken from
# the same directory).
set -euo pipefail

MAGPKG=${MAGPKG:-${CARGO_TARGET_DIR:-$PWD/target}/release/magpkg}
HELPER=$(dirname "$MAGPKG")/magpkg-hook
PROMPTS=${PROMPTS:-500}
for tool in "$MAGPKG" "$HELPER" direnv hyperfine python3 /usr/bin/time; do
  command -v "$tool" >/dev/null || {
    echo "bench/hook.sh needs $tool" >&2
    exit 1
  }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data \
  XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache \
  MAGPKG_STATE=$work/state/magpkg MAGPKG_STORE=$work/store
mkdir -p "$HOME" "$work/proj/bin" "$work/direnv/bin"

# The same environment for both tools: two variables (VARS=N: N) and a bin
# dir first on PATH.
VARS=${VARS:-2}
{
  echo "{ packages: [], path: ['./bin'], env: {"
  if [ "$VARS" = 2 ]; then
    echo "  GREETING: 'hello world', MODE: 'bench',"
  else
    for ((i = 1; i <= VARS; i++)); do echo "  VAR_$i: 'value number $i of the bench, with spaces',"; done
  fi
  echo "} }"
} >"$work/proj/magnet.jsonnet"
{
  if [ "$VARS" = 2 ]; then
    echo 'export GREETING="hello world" MODE=bench'
  else
    for ((i = 1; i <= VARS; i++)); do echo "export VAR_$i='value number $i of the bench, with spaces'"; done
  fi
  echo 'PATH_add bin'
} >"$work/direnv/.envrc"
(cd "$work/proj" && "$MAGPKG" allow 2>/dev/null && "$MAGPKG" env >/dev/null 2>&1)
direnv allow "$work/direnv" 2>/dev/null
"$MAGPKG" hook bash >"$work/hook.bash"

echo "== 1. prompt in an unchanged project ($PROMPTS prompts per run)"
# Each command sources the hook, enters the project (one activation), then
# runs the prompt hook N more times; the cost of one prompt is the
# difference between N=$PROMPTS and N=0, divided by $PROMPTS.
# shellcheck disable=SC2016 # the commands are for another bash
prompts() { # TOOL N
  case $1 in
  magpkg) printf 'source %q; cd %q; _magpkg_hook 2>/dev/null; for ((i = 0; i < %s; i++)); do _magpkg_hook; done' \
    "$work/hook.bash" "$work/proj" "$2" ;;
  direnv) printf 'eval "$(direnv hook bash)"; cd %q; _direnv_hook 2>/dev/null; for ((i = 0; i < %s; i++)); do _direnv_hook; done' \
    "$work/direnv" "$2" ;;
  esac
}
hyperfine -N --warmup 3 --runs 10 --export-json "$work/prompt.json" \
  -n "magpkg N=0" "bash --norc -c '$(prompts magpkg 0)'" \
  -n "magpkg N=$PROMPTS" "bash --norc -c '$(prompts magpkg "$PROMPTS")'" \
  -n "direnv N=0" "bash --norc -c '$(prompts direnv 0)'" \
  -n "direnv N=$PROMPTS" "bash --norc -c '$(prompts direnv "$PROMPTS")'" >/dev/null
python3 - "$work/prompt.json" "$PROMPTS" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
n = int(sys.argv[2])
for tool in ("magpkg", "direnv"):
    per = (r[f"{tool} N={n}"] - r[f"{tool} N=0"]) / n
    print(f"  {tool}: {per * 1e6:8.1f} µs per prompt")
PY

echo "== 2. activation on cd vs direnv in a loaded directory"
# Run from inside the directories: the commands inherit PWD, as from a shell.
cd "$work/proj"
hyperfine -N --warmup 20 --runs 300 --export-json "$work/activate.json" \
  -n "magpkg-hook bash (activation)" "$HELPER bash" \
  -n "magpkg hook-env bash (activation)" "$MAGPKG hook-env bash" >/dev/null
(
  # Already active: what asking costs when a watched file was touched but
  # nothing changed.
  eval "$("$HELPER" bash 2>/dev/null)"
  hyperfine -N --warmup 20 --runs 300 --export-json "$work/loaded.json" \
    -n "magpkg-hook bash (loaded)" "$HELPER bash" >/dev/null
)
(
  cd "$work/direnv"
  eval "$(direnv export bash 2>/dev/null)"
  hyperfine -N --warmup 20 --runs 300 --export-json "$work/direnv.json" \
    -n "direnv export bash (loaded)" "direnv export bash" \
    -n "/bin/true (a process, for scale)" "/bin/true" >/dev/null
)
python3 - "$work/activate.json" "$work/loaded.json" "$work/direnv.json" <<'PY'
import json, sys
rows = [r for f in sys.argv[1:] for r in json.load(open(f))["results"]]
for x in rows:
    print(f"  {x['command']:<36} {x['mean'] * 1e3:6.2f} ms ± {x['stddev'] * 1e3:.2f}  (median {x['median'] * 1e3:.2f})")
by = {x["command"]: x["median"] for x in rows}
ratio = by["magpkg-hook bash (activation)"] / by["direnv export bash (loaded)"]
print(f"  activation / direnv loaded (medians): {ratio:.2f} (target <= 0.33)")
PY

echo "== 3. peak memory (max RSS)"
rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
echo "  magpkg-hook bash (activation):     $(cd "$work/proj" && rss "$HELPER" bash) KiB"
echo "  magpkg hook-env bash (activation): $(cd "$work/proj" && rss "$MAGPKG" hook-env bash) KiB"
echo "  direnv export bash (loaded):       $(cd "$work/direnv" && eval "$(direnv export bash 2>/dev/null)" && rss direnv export bash) KiB"
echo "  magpkg, unchanged prompt:          no process"

echo "== 4. processes started (strace, execve)"
# Processes per activation (cd into the project, one prompt) and per
# prompt in an unchanged project (the difference between 10 prompts and 0,
# divided by 10); the shell itself is not counted.
if command -v strace >/dev/null; then
  execs() { # TOOL N
    strace -f -qq -e trace=execve -o "$work/strace.out" bash --norc -c "$(prompts "$1" "$2")" >/dev/null 2>&1
    grep -c 'execve(' "$work/strace.out" | awk '{ print $1 - 1 }'
  }
  for tool in magpkg direnv; do
    a=$(execs "$tool" 0)
    b=$(execs "$tool" 10)
    echo "  $tool: $a process(es) to activate, $(((b - a) / 10)) per unchanged prompt"
  done
else
  echo "  (strace is not installed: apt-get install strace)"
fi
