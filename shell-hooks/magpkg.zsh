# magpkg shell hook for zsh. Install it in ~/.zshrc with:
#   eval "$(magpkg hook zsh)"
#
# Runs before each prompt (precmd) and right after each directory change
# (chpwd), so `cd project && make` already sees the project's environment.
# It finds the nearest magnet.jsonnet above $PWD and compares the watched
# files with their stamps using builtins only; only when something changed
# does it run `magpkg hook-env zsh`. An unchanged prompt spawns nothing.
#
# State: `_magpkg_root` (the project found at the last check, empty for
# none, unset before the first check) and `_magpkg_watch` (pairs of a watched
# path and a stamp file carrying the mtime it had; an empty stamp means the
# path must not exist). The active environment's reversible diff is the
# exported MAGPKG_DIFF.

_magpkg_hook() {
  local _magpkg_status=$?
  emulate -L zsh
  local _magpkg_dir=$PWD _magpkg_found='' _magpkg_f _magpkg_s
  integer _magpkg_i=1
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
    while (( _magpkg_i <= $#_magpkg_watch )); do
      _magpkg_f=$_magpkg_watch[_magpkg_i]
      _magpkg_s=$_magpkg_watch[_magpkg_i+1]
      if [[ -z $_magpkg_s ]]; then
        [[ ! -e $_magpkg_f ]] || break
      elif [[ ! -e $_magpkg_f || $_magpkg_f -nt $_magpkg_s || $_magpkg_f -ot $_magpkg_s ]]; then
        break
      fi
      _magpkg_i+=2
    done
    if (( _magpkg_i > $#_magpkg_watch )); then
      return $_magpkg_status
    fi
  elif (( ! ${+_magpkg_root} )) && [[ -z $_magpkg_found && -z ${MAGPKG_DIFF-} ]]; then
    # First check, outside any project, nothing inherited: nothing to do.
    typeset -g _magpkg_root=''
    return $_magpkg_status
  fi
  eval "$(@MAGPKG@ hook-env zsh)"
  typeset -g _magpkg_root=$_magpkg_found
  return $_magpkg_status
}

# (Re)start from a clean state: the next prompt asks magpkg once.
typeset -ga _magpkg_watch
_magpkg_watch=()
unset _magpkg_root
# add-zsh-hook never adds a function twice, so sourcing the rc file again is
# harmless.
autoload -Uz add-zsh-hook
add-zsh-hook precmd _magpkg_hook
add-zsh-hook chpwd _magpkg_hook
