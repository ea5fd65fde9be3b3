# magpkg shell hook for bash (4.4 or newer). Install it in ~/.bashrc with:
#   eval "$(magpkg hook bash)"
#
# At each prompt `_magpkg_hook` looks for the nearest magnet.jsonnet above
# $PWD and compares the files magpkg asked it to watch with their stamps,
# using builtins only: an unchanged prompt spawns nothing. When the project
# changed, `_magpkg_switch` does with builtins what magpkg would: undo the
# active environment from its pre-rendered reverse and apply the new
# project's pre-rendered activation (a file magpkg wrote the last time it
# activated that project), each only after its checks hold. Only when a
# check fails does the hook run `magpkg hook-env bash`, whose output
# (variables to set or unset, the next watch list, the active entry) is
# evaluated here.
#
# State, in plain shell variables: `_magpkg_root` (the project found at the
# last check, empty for none, unset before the first check), `_magpkg_watch`
# (pairs of a watched path and a stamp file carrying the mtime it had; an
# empty stamp means the path must not exist), `_magpkg_active` (the entry of
# the active environment, see `_magpkg_switch`) and `_magpkg_enter` (the
# directory of pre-rendered entries). The reversible diff of the active
# environment is the exported MAGPKG_DIFF.

# Whether none of the watched files (pairs: path, stamp) changed.
_magpkg_unchanged() {
  while (($# >= 2)); do
    if [[ -z $2 ]]; then
      [[ ! -e $1 ]] || return 1
    elif [[ ! -e $1 || $1 -nt $2 || $1 -ot $2 ]]; then
      return 1
    fi
    shift 2
  done
}

# Go from the active environment to the one of the project $1 ('' for none)
# with builtins only, as `magpkg hook-env` would. An entry (`_magpkg_active`,
# or the file magpkg wrote for a project: its words, each ended by a NUL) is a
# list: format, canonical root, MAGPKG_DIFF, the loaded and the unloaded
# line, the code that checks the variables allow leaving, the leaving, the
# check for entering, the entering, then the watch items. Fails before
# changing anything when magpkg must decide (no entry, not this directory, a
# watched file changed, a variable not as the entry expects, the same root
# reached another way); after leaving only when the new entry does not fit
# the environment left, which magpkg then takes on.
_magpkg_switch() {
  local _magpkg_name
  _magpkg_entry=()
  if [[ -n $1 ]]; then
    [[ -n ${_magpkg_enter-} ]] || return 1
    _magpkg_name=${1//\%/%25}
    _magpkg_name=$_magpkg_enter/${_magpkg_name//\//%2F}.bash
    [[ -f $_magpkg_name ]] || return 1
    mapfile -t -d '' _magpkg_entry <"$_magpkg_name" || return 1
    # The entry is for this directory: the path may lead elsewhere now.
    [[ ${_magpkg_entry[0]-} == 2 && $1 -ef ${_magpkg_entry[1]} ]] || return 1
    _magpkg_unchanged "${_magpkg_entry[@]:9}" || return 1
  fi
  if [[ -n ${MAGPKG_DIFF+set} ]]; then
    [[ ${_magpkg_active[0]-} == 2 && ${_magpkg_active[2]} == "$MAGPKG_DIFF" ]] || return 1
    [[ ${_magpkg_entry[1]-} != "${_magpkg_active[1]}" ]] || return 1
    eval "${_magpkg_active[5]}" || return 1
    eval "${_magpkg_active[6]}"
    printf '%s\n' "${_magpkg_active[4]}" >&2
    _magpkg_active=()
  fi
  _magpkg_watch=()
  [[ -n $1 ]] || return 0
  eval "${_magpkg_entry[7]}" || return 1
  eval "${_magpkg_entry[8]}"
  _magpkg_active=("${_magpkg_entry[@]:0:7}")
  _magpkg_watch=("${_magpkg_entry[@]:9}")
  printf '%s\n' "${_magpkg_entry[3]}" >&2
}

_magpkg_hook() {
  local _magpkg_status=$? _magpkg_dir=$PWD _magpkg_found=''
  while :; do
    if [[ -f $_magpkg_dir/magnet.jsonnet ]]; then
      _magpkg_found=${_magpkg_dir:-/}
      break
    fi
    [[ $_magpkg_dir == */* ]] || break
    _magpkg_dir=${_magpkg_dir%/*}
  done
  if [[ -n ${_magpkg_root+set} && $_magpkg_found == "$_magpkg_root" ]]; then
    # Same project as last time: has any watched file changed?
    if _magpkg_unchanged "${_magpkg_watch[@]}"; then
      return "$_magpkg_status"
    fi
  elif [[ -z ${_magpkg_root+set} && -z $_magpkg_found && -z ${MAGPKG_DIFF-} ]]; then
    # First prompt, outside any project, nothing inherited: nothing to do.
    _magpkg_root=''
    return "$_magpkg_status"
  elif _magpkg_switch "$_magpkg_found"; then
    _magpkg_root=$_magpkg_found
    return "$_magpkg_status"
  fi
  eval "$(@HOOK_ENV@ bash)"
  _magpkg_root=$_magpkg_found
  return "$_magpkg_status"
}

# (Re)start from a clean state: the next prompt asks magpkg once.
declare -ga _magpkg_watch=() _magpkg_active=() _magpkg_entry=()
unset _magpkg_root
# Install once, even if the rc file is sourced again; PROMPT_COMMAND may be a
# string or (bash 5.1+) an array, which shellcheck cannot follow.
# The hook hands the previous command's status on to the prompt, so it
# returns non-zero after a failed command; `&& :` makes that return part of
# an AND list, where `set -e` never exits the shell (`false && true` typed
# at an errexit prompt must not end the session), and keeps the status.
# shellcheck disable=SC2128,SC2178
if [[ ${PROMPT_COMMAND[*]@a} == *a* ]]; then
  if [[ " ${PROMPT_COMMAND[*]} " != *"_magpkg_hook && :"* ]]; then
    PROMPT_COMMAND=("_magpkg_hook && :" "${PROMPT_COMMAND[@]}")
  fi
elif [[ ${PROMPT_COMMAND-} != *_magpkg_hook* ]]; then
  PROMPT_COMMAND="_magpkg_hook && :${PROMPT_COMMAND:+;$PROMPT_COMMAND}"
fi
