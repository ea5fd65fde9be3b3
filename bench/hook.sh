#!/usr/bin/env bash
# The shell hook's cost, side by side with direnv (Debian's 2.32), for an
# environment of 2 and of 300 variables (VARS_LIST="2 300", the default), in
# one run:
#   1. a prompt in an unchanged project: the hook function's time per prompt
#      (magpkg decides in the shell and spawns nothing; direnv runs
#      `direnv export bash` at every prompt);
#   2. activation in the shell: `cd` into the project and a prompt, then
#      `cd` out and a prompt, per enter+leave cycle (magpkg applies and
#      undoes the pre-rendered activation with builtins; direnv exports
#      twice); the issue's ratio is half a cycle against one `direnv export
#      bash` in a loaded directory (target: 0.1 or less);
#   3. the process path, when a check fails (first visit, another PATH):
#      `magpkg-hook bash` activating against `direnv export bash` in a
#      loaded directory;
#   4. processes started (strace: fork, vfork and clone that is not a
#      thread) to activate, per unchanged prompt, and to leave;
#   5. peak memory (max RSS) of the processes.
# Run from the repository root after `cargo build --release`
# (MAGPKG=/path/to/magpkg to use another build; magpkg-hook is taken from
# the same directory).
set -euo pipefail

MAGPKG=${MAGPKG:-${CARGO_TARGET_DIR:-$PWD/target}/release/magpkg}
HELPER=$(dirname "$MAGPKG")/magpkg-hook
PROMPTS=${PROMPTS:-500}
CYCLES=${CYCLES:-100}
for tool in "$MAGPKG" "$HELPER" direnv hyperfine python3 strace /usr/bin/time; do
  command -v "$tool" >/dev/null || {
    echo "bench/hook.sh needs $tool" >&2
    exit 1
  }
done

top=$(mktemp -d)
trap 'rm -rf "$top"' EXIT

# Processes a traced `bash --norc -c SCRIPT` started: every fork, vfork or
# clone that is not a thread (a `$(cmd)` that runs a program is one: the
# forked subshell execs it).
procs() {
  strace -f -qq -e trace=clone,clone3,fork,vfork -o "$top/strace.out" bash --norc -c "$1" >/dev/null 2>&1
  awk '/(clone3?|v?fork)\(/ && !/CLONE_THREAD/ { n++ } END { print n + 0 }' "$top/strace.out"
}

# One environment of $1 variables: a project, a direnv directory, results.
bench() {
  local vars=$1 work=$top/v$1
  export HOME=$work/home XDG_CONFIG_HOME=$work/config XDG_DATA_HOME=$work/data \
    XDG_STATE_HOME=$work/state XDG_CACHE_HOME=$work/cache \
    MAGPKG_STATE=$work/state/magpkg MAGPKG_STORE=$work/store
  mkdir -p "$HOME" "$work/proj/bin" "$work/direnv/bin" "$work/out"
  # The same environment for both tools: the variables and a bin dir first
  # on PATH.
  {
    echo "{ packages: [], path: ['./bin'], env: {"
    if [ "$vars" = 2 ]; then
      echo "  GREETING: 'hello world', MODE: 'bench',"
    else
      for ((i = 1; i <= vars; i++)); do echo "  VAR_$i: 'value number $i of the bench, with spaces',"; done
    fi
    echo "} }"
  } >"$work/proj/magnet.jsonnet"
  {
    if [ "$vars" = 2 ]; then
      echo 'export GREETING="hello world" MODE=bench'
    else
      for ((i = 1; i <= vars; i++)); do echo "export VAR_$i='value number $i of the bench, with spaces'"; done
    fi
    echo 'PATH_add bin'
  } >"$work/direnv/.envrc"
  (cd "$work/proj" && "$MAGPKG" allow 2>/dev/null && "$MAGPKG" env >/dev/null 2>&1)
  direnv allow "$work/direnv" 2>/dev/null
  "$MAGPKG" hook bash >"$work/hook.bash"
  # The first visit runs magpkg-hook, which leaves the pre-rendered entry.
  bash --norc -c "source '$work/hook.bash'; cd '$work/proj'; _magpkg_hook 2>/dev/null"

  # Shell scripts for both tools. In each, the hook is installed, the shell
  # is outside (one prompt), then the steps run.
  # shellcheck disable=SC2016 # the scripts are for another bash
  script() { # TOOL STEPS
    case $1 in
    magpkg) printf 'source %q; cd %q; _magpkg_hook; %s' "$work/hook.bash" "$work/out" "$2" ;;
    direnv) printf 'eval "$(direnv hook bash)"; cd %q; _direnv_hook; %s' "$work/out" "$2" ;;
    esac
  }
  dir() { case $1 in magpkg) echo "$work/proj" ;; direnv) echo "$work/direnv" ;; esac }
  prompt() { case $1 in magpkg) echo _magpkg_hook ;; direnv) echo _direnv_hook ;; esac }
  enter() { printf 'cd %q; %s;' "$(dir "$1")" "$(prompt "$1")"; }
  leave() { printf 'cd %q; %s;' "$work/out" "$(prompt "$1")"; }
  prompts() { printf '%s for ((i = 0; i < %s; i++)); do %s; done' "$(enter "$1")" "$2" "$(prompt "$1")"; }
  cycles() { printf 'for ((i = 0; i < %s; i++)); do %s %s done' "$2" "$(enter "$1")" "$(leave "$1")"; }

  local args=()
  for tool in magpkg direnv; do
    args+=(-n "$tool prompts 0" "bash --norc -c 'exec 2>/dev/null; $(script "$tool" "$(prompts "$tool" 0)")'")
    args+=(-n "$tool prompts $PROMPTS" "bash --norc -c 'exec 2>/dev/null; $(script "$tool" "$(prompts "$tool" "$PROMPTS")")'")
    args+=(-n "$tool cycles 0" "bash --norc -c 'exec 2>/dev/null; $(script "$tool" "$(cycles "$tool" 0)")'")
    args+=(-n "$tool cycles $CYCLES" "bash --norc -c 'exec 2>/dev/null; $(script "$tool" "$(cycles "$tool" "$CYCLES")")'")
  done
  hyperfine -N --warmup 2 --runs 10 --export-json "$work/shell.json" "${args[@]}" >/dev/null

  # The process path and direnv's export, from inside the directories.
  (
    cd "$work/proj"
    hyperfine -N --warmup 20 --runs 300 --export-json "$work/activate.json" \
      -n "magpkg-hook bash (process path)" "$HELPER bash" >/dev/null
  )
  (
    cd "$work/direnv"
    eval "$(direnv export bash 2>/dev/null)"
    hyperfine -N --warmup 20 --runs 300 --export-json "$work/direnv.json" \
      -n "direnv export bash (loaded)" "direnv export bash" \
      -n "/bin/true" "/bin/true" >/dev/null
  )

  # Processes: the difference between scripts with and without a step.
  local counts=()
  for tool in magpkg direnv; do
    local base a b l
    base=$(procs "$(script "$tool" :)")
    a=$(procs "$(script "$tool" "$(enter "$tool")")")
    b=$(procs "$(script "$tool" "$(enter "$tool") $(prompts "$tool" 10)")")
    l=$(procs "$(script "$tool" "$(enter "$tool") $(leave "$tool")")")
    counts+=("$tool" "$((a - base))" "$(((b - a) / 10))" "$((l - a))")
  done
  # The process path: no entry (as at the first visit).
  local first
  first=$(
    rm -rf "$MAGPKG_STATE/hook-v1/enter"
    procs "$(script magpkg "$(enter magpkg)")"
  )
  first=$((first - $(procs "$(script magpkg :)")))

  rss() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }
  local rss_helper rss_direnv
  rss_helper=$(cd "$work/proj" && rss "$HELPER" bash)
  rss_direnv=$(cd "$work/direnv" && eval "$(direnv export bash 2>/dev/null)" && rss direnv export bash)

  python3 - "$vars" "$PROMPTS" "$CYCLES" "$work/shell.json" "$work/activate.json" "$work/direnv.json" \
    "$first" "$rss_helper" "$rss_direnv" "${counts[@]}" <<'PY'
import json, sys
vars, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
shell = {x["command"]: x for x in json.load(open(sys.argv[4]))["results"]}
proc = {x["command"]: x for f in sys.argv[5:7] for x in json.load(open(f))["results"]}
first, rss_helper, rss_direnv = sys.argv[7:10]
counts = sys.argv[10:]
procs = {counts[i]: counts[i + 1:i + 4] for i in range(0, len(counts), 4)}
def per(tool, what, k):
    return (shell[f"{tool} {what} {k}"]["mean"] - shell[f"{tool} {what} 0"]["mean"]) / k
ms = lambda s: f"{s * 1e3:.3f} ms"
export = proc["direnv export bash (loaded)"]["median"]
print(f"== {vars} variables")
print(f"| | magpkg | direnv |")
print(f"|---|---|---|")
print(f"| unchanged prompt (per prompt, {n} prompts) | {ms(per('magpkg', 'prompts', n))}, {procs['magpkg'][1]} processes | {ms(per('direnv', 'prompts', n))}, {procs['direnv'][1]} processes |")
mc, dc = per("magpkg", "cycles", c), per("direnv", "cycles", c)
print(f"| enter + leave in the shell (per cycle, {c} cycles) | {ms(mc)}, {procs['magpkg'][0]} + {procs['magpkg'][2]} processes | {ms(dc)}, {procs['direnv'][0]} + {procs['direnv'][2]} processes |")
print(f"| process path: `magpkg-hook bash` activating vs `direnv export bash` loaded (medians) | {ms(proc['magpkg-hook bash (process path)']['median'])}, {first} process | {ms(export)}, 1 process |")
print(f"| `/bin/true` | {ms(proc['/bin/true']['median'])} | |")
print(f"| peak RSS | {rss_helper} KiB (`magpkg-hook`) | {rss_direnv} KiB |")
print(f"activation in the shell (half a cycle) / direnv export loaded: {mc / 2 / export:.3f} (target <= 0.1)")
print(f"enter+leave cycle, magpkg / direnv: {mc / dc:.3f}")
PY
}

for v in ${VARS_LIST:-2 300}; do
  bench "$v"
done
