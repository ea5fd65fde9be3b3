# magpkg shell hook for zsh. Install it in ~/.zshrc with:
#   eval "$(magpkg hook zsh)"
#
# Runs before each prompt (precmd) and right after each directory change
# (chpwd), so `cd project && make` already sees the project's environment.
# It finds the nearest magnet.jsonnet above $PWD and compares the watched
# files with their stamps using builtins only: an unchanged prompt spawns
# nothing. When the project changed, `_magpkg_switch` does with builtins
# what magpkg would (undo the active environment from its pre-rendered
# reverse, apply the new project's pre-rendered activation), each only
# after its checks hold; only when one fails does it run `magpkg hook-env
# zsh`.
#
# State: `_magpkg_root` (the project found at the last check, empty for
# none, unset before the first check), `_magpkg_watch` (pairs of a watched
# path and a stamp file carrying the mtime it had; an empty stamp means the
# path must not exist), `_magpkg_active` (the entry of the active
# environment, see `_magpkg_switch`) and `_magpkg_enter` (the directory of
# pre-rendered entries). The active environment's reversible diff is the
# exported MAGPKG_DIFF.

# Whether none of the watched files (pairs: path, stamp) changed.
_magpkg_unchanged() {
  emulate -L zsh
  while (( $# >= 2 )); do
    if [[ -z $2 ]]; then
      [[ ! -e $1 ]] || return 1
    elif [[ ! -e $1 || $1 -nt $2 || $1 -ot $2 ]]; then
      return 1
    fi
    shift 2
  done
  return 0
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
  emulate -L zsh
  local _magpkg_name
  _magpkg_entry=()
  if [[ -n $1 ]]; then
    [[ -n ${_magpkg_enter-} ]] || return 1
    _magpkg_name=${1//\%/%25}
    _magpkg_name=$_magpkg_enter/${_magpkg_name//\//%2F}.zsh
    [[ -f $_magpkg_name ]] || return 1
    # `$(<file)` reads without a process; the last NUL ends the last word.
    _magpkg_entry=("${(@0)$(<$_magpkg_name)}")
    _magpkg_entry[-1]=()
    # The entry is for this directory: the path may lead elsewhere now.
    [[ ${_magpkg_entry[1]-} == 2 && $1 -ef $_magpkg_entry[2] ]] || return 1
    _magpkg_unchanged "${(@)_magpkg_entry[10,-1]}" || return 1
  fi
  if [[ -v MAGPKG_DIFF ]]; then
    [[ ${_magpkg_active[1]-} == 2 && $_magpkg_active[3] == "$MAGPKG_DIFF" ]] || return 1
    [[ ${_magpkg_entry[2]-} != "$_magpkg_active[2]" ]] || return 1
    eval "$_magpkg_active[6]" || return 1
    eval "$_magpkg_active[7]"
    print -r -- "$_magpkg_active[5]" >&2
    _magpkg_active=()
  fi
  _magpkg_watch=()
  [[ -n $1 ]] || return 0
  eval "$_magpkg_entry[8]" || return 1
  eval "$_magpkg_entry[9]"
  _magpkg_active=("${(@)_magpkg_entry[1,7]}")
  _magpkg_watch=("${(@)_magpkg_entry[10,-1]}")
  print -r -- "$_magpkg_entry[4]" >&2
  return 0
}

_magpkg_hook() {
  local _magpkg_status=$?
  emulate -L zsh
  local _magpkg_dir=$PWD _magpkg_found=''
  while :; do
    if [[ -f $_magpkg_dir/magnet.jsonnet ]]; then
      _magpkg_found=${_magpkg_dir:-/}
      break
    fi
    [[ $_magpkg_dir == */* ]] || break
    _magpkg_dir=${_magpkg_dir%/*}
  done
  if (( ${+_magpkg_root} )) && [[ $_magpkg_found == "$_magpkg_root" ]]; then
    # Same project as last time: has any watched file changed?
    if _magpkg_unchanged "${(@)_magpkg_watch}"; then
      return $_magpkg_status
    fi
  elif (( ! ${+_magpkg_root} )) && [[ -z $_magpkg_found && -z ${MAGPKG_DIFF-} ]]; then
    # First check, outside any project, nothing inherited: nothing to do.
    typeset -g _magpkg_root=''
    return $_magpkg_status
  elif _magpkg_switch "$_magpkg_found"; then
    typeset -g _magpkg_root=$_magpkg_found
    return $_magpkg_status
  fi
  eval "$(@HOOK_ENV@ zsh)"
  typeset -g _magpkg_root=$_magpkg_found
  return $_magpkg_status
}

# (Re)start from a clean state: the next prompt asks magpkg once.
typeset -ga _magpkg_watch _magpkg_active _magpkg_entry
_magpkg_watch=()
_magpkg_active=()
_magpkg_entry=()
unset _magpkg_root
# add-zsh-hook never adds a function twice, so sourcing the rc file again is
# harmless.
autoload -Uz add-zsh-hook
add-zsh-hook precmd _magpkg_hook
add-zsh-hook chpwd _magpkg_hook
