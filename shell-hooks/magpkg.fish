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

# Whether the variables hold what an entry's groups (NAME KIND PREV NEXT)
# say. KIND: `s` set or `p` prepended by the activation, `=` a condition
# only; then `1` (was set and exported, to PREV) or `0` (was unset).
# MODE `before`: every variable as before the activation; `after`: the
# conditions as before, the prepended lists as the activation left them.
function _magpkg_holds
    set -l _magpkg_m $argv[1]
    set -e argv[1]
    while test (count $argv) -ge 4
        switch $_magpkg_m$argv[2]
            case befores0 beforep0 'after=0'
                set -q $argv[1]; and return 1
            case befores1 beforep1 'after=1'
                set -qx $argv[1]; or return 1
                test "$$argv[1]" = "$argv[3]"; or return 1
            case afterp0 afterp1
                set -qx $argv[1]; or return 1
                test "$$argv[1]" = "$argv[4]"; or return 1
        end
        set -e argv[1..4]
    end
    return 0
end

# Apply an entry's groups: MODE `undo` (the previous values back) or
# `enter` (the activation's values).
function _magpkg_apply
    set -l _magpkg_m $argv[1]
    set -e argv[1]
    while test (count $argv) -ge 4
        switch $_magpkg_m$argv[2]
            case undos0 undop0
                set -e -g $argv[1]
            case undos1 undop1
                set -gx $argv[1] $argv[3]
            case enters0 enters1 enterp0 enterp1
                set -gx $argv[1] $argv[4]
        end
        set -e argv[1..4]
    end
end

# Go from the active environment to the one of the project $argv[1] (''
# for none) with builtins only, as `magpkg hook-env` would. An entry
# (`_magpkg_active`, or the file magpkg wrote for a project) is a list:
# format version, canonical root, MAGPKG_DIFF, the loaded and the unloaded
# line, the number W of watch items, the W items, then groups of four (see
# `_magpkg_holds`). Fails before changing anything when magpkg must decide
# (no entry, a watched file changed, a variable not as the entry expects,
# the same root reached another way); after undoing the active environment
# only when the new entry does not fit the environment left, which magpkg
# then takes on.
function _magpkg_switch
    set -l _magpkg_e
    set -l _magpkg_w 0
    if test -n "$argv[1]"
        set -q _magpkg_enter; or return 1
        set -l _magpkg_name (string replace -a -- % %25 "$argv[1]" | string collect)
        set _magpkg_name "$_magpkg_enter/"(string replace -a -- / %2F "$_magpkg_name" | string collect)".fish"
        test -f "$_magpkg_name"; or return 1
        set -g _magpkg_entry
        source "$_magpkg_name"; or return 1
        set _magpkg_e $_magpkg_entry
        # The entry is for this directory: the path may lead elsewhere now.
        test "$_magpkg_e[1]" = 1; and test "$argv[1]" -ef "$_magpkg_e[2]"; or return 1
        set _magpkg_w $_magpkg_e[6]
        if test $_magpkg_w -gt 0
            _magpkg_unchanged $_magpkg_e[7..(math 6 + $_magpkg_w)]; or return 1
        end
    end
    if set -q MAGPKG_DIFF
        test "$_magpkg_active[1]" = 1; and test "$_magpkg_active[3]" = "$MAGPKG_DIFF"; or return 1
        test "$_magpkg_e[2]" != "$_magpkg_active[2]"; or return 1
        set -l _magpkg_groups $_magpkg_active[(math 7 + $_magpkg_active[6])..-1]
        _magpkg_holds after $_magpkg_groups; or return 1
        _magpkg_apply undo $_magpkg_groups
        set -e -g MAGPKG_DIFF
        printf '%s\n' "$_magpkg_active[5]" >&2
        set -g _magpkg_active
    end
    set -g _magpkg_watch
    test (count $_magpkg_e) -gt 0; or return 0
    set -l _magpkg_groups $_magpkg_e[(math 7 + $_magpkg_w)..-1]
    _magpkg_holds before $_magpkg_groups; or return 1
    _magpkg_apply enter $_magpkg_groups
    set -gx MAGPKG_DIFF "$_magpkg_e[3]"
    set -g _magpkg_active $_magpkg_e
    if test $_magpkg_w -gt 0
        set -g _magpkg_watch $_magpkg_e[7..(math 6 + $_magpkg_w)]
    end
    printf '%s\n' "$_magpkg_e[4]" >&2
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
