# magpkg shell hook for fish. Install it in ~/.config/fish/config.fish with:
#   magpkg hook fish | source
#
# Runs before each prompt and whenever PWD changes. It finds the nearest
# magnet.jsonnet above $PWD and compares the watched files with their stamps
# using builtins only; only when something changed does it run
# `magpkg hook-env fish`. An unchanged prompt spawns nothing.
#
# State: `_magpkg_root` (the project found at the last check, empty for
# none, unset before the first check) and `_magpkg_watch` (pairs of a watched
# path and a stamp file carrying the mtime it had; an empty stamp means the
# path must not exist). The active environment's reversible diff is the
# exported MAGPKG_DIFF.

function _magpkg_hook --on-event fish_prompt --on-variable PWD --description 'magpkg: activate project environments'
    set -l _magpkg_status $status
    set -l _magpkg_dir $PWD
    set -l _magpkg_found ''
    while true
        if test -f "$_magpkg_dir/magnet.jsonnet"
            set _magpkg_found "$_magpkg_dir"
            test -n "$_magpkg_found"; or set _magpkg_found /
            break
        end
        string match -q -- '*/*' "$_magpkg_dir"; or break
        # `string collect`: a directory name may hold a newline, which a
        # command substitution would split into two list items. (It trims
        # the line end `string replace` adds, so only a name that ends in a
        # newline is beyond this walk.)
        set _magpkg_dir (string replace -r -- '/[^/]*$' '' "$_magpkg_dir" | string collect)
    end
    if set -q _magpkg_root; and test "$_magpkg_found" = "$_magpkg_root"
        # Same project as last time: has any watched file changed?
        set -l _magpkg_i 1
        set -l _magpkg_n (count $_magpkg_watch)
        while test $_magpkg_i -lt $_magpkg_n
            set -l _magpkg_f $_magpkg_watch[$_magpkg_i]
            set -l _magpkg_s $_magpkg_watch[(math $_magpkg_i + 1)]
            if test -z "$_magpkg_s"
                test -e "$_magpkg_f"; and break
            else if not test -e "$_magpkg_f"; or test "$_magpkg_f" -nt "$_magpkg_s"; or test "$_magpkg_f" -ot "$_magpkg_s"
                break
            end
            set _magpkg_i (math $_magpkg_i + 2)
        end
        if test $_magpkg_i -ge $_magpkg_n
            return $_magpkg_status
        end
    else if not set -q _magpkg_root; and test -z "$_magpkg_found"; and test -z "$MAGPKG_DIFF"
        # First check, outside any project, nothing inherited: nothing to do.
        set -g _magpkg_root ''
        return $_magpkg_status
    end
    @HOOK_ENV@ fish | source
    set -g _magpkg_root $_magpkg_found
    return $_magpkg_status
end

# (Re)start from a clean state: the next prompt asks magpkg once. (Written
# so that sourcing the hook leaves $status at 0.)
set -g _magpkg_watch
if set -q _magpkg_root
    set -e _magpkg_root
end
