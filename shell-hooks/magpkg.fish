# magpkg shell hook for fish. Install it in ~/.config/fish/config.fish with:
#   magpkg hook fish | source
#
# Runs before each prompt and whenever PWD changes. It finds the nearest
# magnet.jsonnet above $PWD and compares the watched files with their stamps
# using builtins only: an unchanged prompt spawns nothing. When the project
# changed, `_magpkg_switch` does with builtins what magpkg would (undo the
# active environment from its pre-rendered reverse, apply the new project's
# pre-rendered activation), each only after its checks hold; only when one
# fails does it run `magpkg hook-env fish`.
#
# State: `_magpkg_root` (the project found at the last check, empty for
# none, unset before the first check), `_magpkg_watch` (pairs of a watched
# path and a stamp file carrying the mtime it had; an empty stamp means the
# path must not exist), `_magpkg_active` (the entry of the active
# environment, see `_magpkg_switch`) and `_magpkg_enter` (the directory of
# pre-rendered entries). The active environment's reversible diff is the
# exported MAGPKG_DIFF.

# Whether none of the watched files (pairs: path, stamp) changed.
function _magpkg_unchanged
    while test (count $argv) -ge 2
        if test -z "$argv[2]"
            test -e "$argv[1]"; and return 1
        else if not test -e "$argv[1]"; or test "$argv[1]" -nt "$argv[2]"; or test "$argv[1]" -ot "$argv[2]"
            return 1
        end
        set -e argv[1..2]
    end
    return 0
end

# Go from the active environment to the one of the project $argv[1] (''
# for none) with builtins only, as `magpkg hook-env` would. An entry
# (`_magpkg_active`, or the file magpkg wrote for a project: its words, each
# ended by a NUL) is a list: format, canonical root, MAGPKG_DIFF, the
# loaded and the unloaded line, the code that checks the variables allow
# leaving, the leaving, the check for entering, the entering, then the
# watch items. Fails before changing anything when magpkg must decide (no
# entry, not this directory, a watched file changed, a variable not as the
# entry expects, the same root reached another way); after leaving only
# when the new entry does not fit the environment left, which magpkg then
# takes on.
function _magpkg_switch
    set -g _magpkg_entry
    if test -n "$argv[1]"
        set -q _magpkg_enter; or return 1
        set -l _magpkg_name (string replace -a -- % %25 "$argv[1]" | string collect)
        set _magpkg_name "$_magpkg_enter/"(string replace -a -- / %2F "$_magpkg_name" | string collect)".fish"
        test -f "$_magpkg_name"; or return 1
        set -g _magpkg_entry (string split0 <"$_magpkg_name")
        # The entry is for this directory: the path may lead elsewhere now.
        test "$_magpkg_entry[1]" = 2; and test "$argv[1]" -ef "$_magpkg_entry[2]"; or return 1
        _magpkg_unchanged $_magpkg_entry[10..-1]; or return 1
    end
    if set -q MAGPKG_DIFF
        test "$_magpkg_active[1]" = 2; and test "$_magpkg_active[3]" = "$MAGPKG_DIFF"; or return 1
        test "$_magpkg_entry[2]" != "$_magpkg_active[2]"; or return 1
        eval $_magpkg_active[6]; or return 1
        eval $_magpkg_active[7]
        printf '%s\n' "$_magpkg_active[5]" >&2
        set -g _magpkg_active
    end
    set -g _magpkg_watch
    test -n "$argv[1]"; or return 0
    eval $_magpkg_entry[8]; or return 1
    eval $_magpkg_entry[9]
    set -g _magpkg_active $_magpkg_entry[1..7]
    set -g _magpkg_watch $_magpkg_entry[10..-1]
    printf '%s\n' "$_magpkg_entry[4]" >&2
    return 0
end

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
        if _magpkg_unchanged $_magpkg_watch
            return $_magpkg_status
        end
    else if not set -q _magpkg_root; and test -z "$_magpkg_found"; and test -z "$MAGPKG_DIFF"
        # First check, outside any project, nothing inherited: nothing to do.
        set -g _magpkg_root ''
        return $_magpkg_status
    else if _magpkg_switch "$_magpkg_found"
        set -g _magpkg_root $_magpkg_found
        return $_magpkg_status
    end
    @HOOK_ENV@ fish | source
    set -g _magpkg_root $_magpkg_found
    return $_magpkg_status
end

# (Re)start from a clean state: the next prompt asks magpkg once. (Written
# so that sourcing the hook leaves $status at 0.)
set -g _magpkg_watch
set -g _magpkg_active
set -g _magpkg_entry
if set -q _magpkg_root
    set -e _magpkg_root
end
