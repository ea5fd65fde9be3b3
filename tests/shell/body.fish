# The fish port of body.sh: same cases, same fixtures. tests/it/hook.rs runs
# it with `fish --no-config`. A prompt is simulated by calling
# `_magpkg_hook` (what the fish_prompt event runs); the PWD variable handler
# also runs it during `cd`.

source $T/preamble.fish

# fish runs the PWD handler with the script's own stderr, not with the
# redirections of the `cd` that triggered it; so the harness sends this
# script's stderr to $T/stderr, and `msg` is what was added since `mark`.
function fail
    printf 'FAIL (fish): %s\n' "$argv"
    exit 1
end
function eq --argument-names actual expected what
    test "$actual" = "$expected"; or fail "$what: expected [$expected], got [$actual]"
end
function calls
    count <$CALLS
end
function mark
    set -g _mark (count <$T/stderr)
end
function msg
    tail -n +(math $_mark + 1) $T/stderr | string collect
end
function prompt
    mark
    _magpkg_hook
end
function go
    mark
    cd $argv[1]
    _magpkg_hook
end
function dump --argument-names name
    cd $T/outside 2>/dev/null
    cd $T/outside 2>/dev/null
    _magpkg_hook 2>/dev/null
    # Sorted (NUL-separated entries): fish exports its variables in an
    # order of its own, which new globals can change.
    env -0 | sort -z | tr '\0' '\n' >$T/env.$name
end
function same_env --argument-names name what
    dump $name
    cmp -s $T/env.before $T/env.$name; or fail "$what: environment not restored: "(diff $T/env.before $T/env.$name | string collect)
end
function has_path
    contains -- $argv[1] $PATH
end
function value --argument-names name
    # One element even when the value holds newlines.
    if set -q $name
        string join \n -- $$name | string collect
    else
        echo unset
    end
end

# --- installation --------------------------------------------------------
$MAGPKG hook fish | source
$MAGPKG hook fish | source
eq (count (functions --handlers-type variable | string match '*_magpkg_hook*')) 1 "PWD handlers after two installs"
eq (count (functions --handlers-type generic | string match '*_magpkg_hook*')) 1 "prompt handlers after two installs"

# --- nothing happens outside projects, not even a process -----------------
true >$CALLS # forget the `magpkg hook` calls above
go $T/outside
go $T/outside/deeper
prompt
eq (calls) 0 "magpkg runs outside projects"
eq "$(msg)" "" "messages outside projects"
dump before
set path_before $PATH

# --- enter / leave -------------------------------------------------------
go $T/proj/sub
eq (value FOO) "$EXPECT_FOO" "FOO inside proj"
eq (proj-tool) "proj-tool ran" "proj-tool inside proj"
set -q MAGPKG_DIFF; or fail "MAGPKG_DIFF not set inside proj"
string match -q "magpkg: loaded *proj*" -- "$(msg)"; or fail "no loaded message: $(msg)"
same_env left "after leaving"
eq (value FOO) unset "FOO after leaving"

# --- exit status is preserved, with and without a spawn -------------------
cd $T/proj
false
_magpkg_hook 2>/dev/null
eq $status 1 "status through an activating prompt"
false
_magpkg_hook
eq $status 1 "status through a no-op prompt"

# --- no-op prompts spawn nothing ------------------------------------------
go $T/proj
set n (calls)
prompt
prompt
prompt
eq "$(msg)" "" "messages on an unchanged prompt"
go $T/proj/sub
go $T/proj/sub2
go $T/proj
eq (calls) $n "magpkg runs on unchanged prompts"

# --- a PATH edit made inside survives leaving ------------------------------
go $T/proj
set -gx PATH $T/mybin $PATH
go $T/outside
eq (string join : $PATH) (string join : $T/mybin $path_before) "PATH after leaving with a user edit"
set -gx PATH $path_before

# --- nested and sibling projects -------------------------------------------
go $T/proj/nested
eq (value FOO) nested-foo "FOO in nested"
eq (value BAR) nested-bar "BAR in nested"
eq (nested-tool) "nested-tool ran" "nested-tool in nested"
has_path $T/proj/bin; and fail "proj's PATH entry still there in nested"
go $T/proj
eq (value FOO) "$EXPECT_FOO" "FOO back in proj"
eq (value BAR) unset "BAR back in proj"
go $T/sib
eq (value FOO) sib-foo "FOO in sibling"
has_path $T/proj/bin; and fail "proj's PATH entry still there in sib"
eq (sib-tool) "sib-tool ran" "sib-tool in sibling"
same_env siblings "after nested and sibling projects"
# The PWD handler: a command after `cd` already sees the environment.
cd $T/sib 2>/dev/null; and eq (value FOO) sib-foo "FOO right after cd, before any prompt"
go $T/outside

# --- untrusted, copied, not built -----------------------------------------
go $T/untrusted
eq (value UNTRUSTED) unset "UNTRUSTED in untrusted project"
string match -q "*not trusted*magpkg allow*" -- "$(msg)"; or fail "untrusted message: $(msg)"
prompt
eq "$(msg)" "" "untrusted message repeated"
cp -R $T/proj $T/copy
go $T/copy
eq (value FOO) unset "FOO in a copied project"
string match -q "*not trusted*" -- "$(msg)"; or fail "copied project message: $(msg)"
go $T/unbuilt
eq (value UNBUILT) unset "UNBUILT in a project never realised"
string match -q "*building the environment in the background (log: *magpkg env --cancel*" -- "$(msg)"; or fail "background hint: $(msg)"
# Prompts until the background realisation has finished; the first prompt
# after it loads the environment and says so.
set -l i 0
while not set -q UNBUILT; and test $i -lt 300
    sleep 0.05
    prompt
    set i (math $i + 1)
end
eq (value UNBUILT) yes "UNBUILT once realised in the background"
string match -q "magpkg: loaded *(built in the background)" -- "$(msg)"; or fail "loaded after realisation: $(msg)"
set n (calls)
prompt
eq (calls) $n "magpkg runs at the prompt after an activation"

# --- manifest edit: blocked until allowed, then reloads ------------------
go $T/proj
cp $T/edits/proj.jsonnet $T/proj/magnet.jsonnet
prompt
string match -q "*blocked*magnet.jsonnet changed*magpkg allow*" -- "$(msg)"; or fail "blocked message: $(msg)"
eq (count (msg)) 1 "lines in the blocked message"
eq (value FOO) unset "FOO while blocked"
realise proj
prompt
string match -q "*blocked*+EDITED*" -- "$(msg)"; or fail "blocked message naming the change: $(msg)"
$MAGPKG allow 2>/dev/null
prompt
eq (value EDITED) yes "EDITED after allow"
string match -q "magpkg: loaded *" -- "$(msg)"; or fail "reload message: $(msg)"

# --- import edit: blocked until re-allowed, then the next prompt loads it --
cp $T/edits/lib.libsonnet $T/proj/lib.libsonnet
prompt
string match -q "*blocked*lib.libsonnet changed*" -- "$(msg)"; or fail "import blocked message: $(msg)"
eq (value EDITED) unset "EDITED while the import is blocked"
prompt
eq "$(msg)" "" "blocked message repeated"
$MAGPKG allow 2>/dev/null
prompt
eq (value LIBVAL) two "LIBVAL at the prompt after re-allow (nothing to build)"
string match -q "magpkg: loaded *" -- "$(msg)"; or fail "reload message after re-allow: $(msg)"

# --- deny unloads; allow brings it back ----------------------------------
$MAGPKG deny 2>/dev/null
prompt
eq (value LIBVAL) unset "LIBVAL after deny"
prompt
eq "$(msg)" "" "denied project message repeated"
$MAGPKG allow 2>/dev/null
prompt
eq (value LIBVAL) two "LIBVAL after allow again"

# --- deleting the manifest unloads ----------------------------------------
go $T/gone
eq (value GONE) here "GONE before the manifest is deleted"
rm $T/gone/magnet.jsonnet
prompt
eq (value GONE) unset "GONE after the manifest is deleted"
same_env end "at the end"

echo "ok fish"
