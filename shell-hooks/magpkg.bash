# magpkg shell hook for bash (4.4 or newer). Install it in ~/.bashrc with:
#   eval "$(magpkg hook bash)"
#
# At each prompt `_magpkg_hook` looks for the nearest magnet.jsonnet above
# $PWD and compares the files magpkg asked it to watch with their stamps,
# using builtins only. Only when the project or a watched file changed does it
# run `magpkg hook-env bash`, whose output (variables to set or unset, and
# the next watch list) is evaluated here. An unchanged prompt spawns nothing.
#
# State: `_magpkg_root` (the project found at the last check, empty for
# none, unset before the first check) and `_magpkg_watch` (pairs of a watched
# path and a stamp file carrying the mtime it had; an empty stamp means the
# path must not exist) are plain shell variables. The reversible diff of the
# active environment is the exported MAGPKG_DIFF.

_magpkg_hook() {
  local _magpkg_status=$? _magpkg_dir=$PWD _magpkg_found='' _magpkg_i=0 _magpkg_f _magpkg_s
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
    while ((_magpkg_i < ${#_magpkg_watch[@]})); do
      _magpkg_f=${_magpkg_watch[_magpkg_i]}
      _magpkg_s=${_magpkg_watch[_magpkg_i + 1]}
      if [[ -z $_magpkg_s ]]; then
        [[ ! -e $_magpkg_f ]] || break
      elif [[ ! -e $_magpkg_f || $_magpkg_f -nt $_magpkg_s || $_magpkg_f -ot $_magpkg_s ]]; then
        break
      fi
      _magpkg_i=$((_magpkg_i + 2))
    done
    if ((_magpkg_i >= ${#_magpkg_watch[@]})); then
      return "$_magpkg_status"
    fi
  elif [[ -z ${_magpkg_root+set} && -z $_magpkg_found && -z ${MAGPKG_DIFF-} ]]; then
    # First prompt, outside any project, nothing inherited: nothing to do.
    _magpkg_root=''
    return "$_magpkg_status"
  fi
  eval "$(@HOOK_ENV@ bash)"
  _magpkg_root=$_magpkg_found
  return "$_magpkg_status"
}

# (Re)start from a clean state: the next prompt asks magpkg once.
declare -ga _magpkg_watch=()
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
