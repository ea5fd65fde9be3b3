# One test body for bash and zsh (direnv's approach): tests/it/hook.rs runs it
# with `bash --noprofile --norc -euo pipefail` and `zsh --no-rcs` (errexit,
# nounset, pipefail), after building the fixtures under $T. A prompt is
# simulated by calling `_magpkg_hook`, which is what PROMPT_COMMAND / precmd
# run; zsh also runs it from chpwd during `cd`.
#
# From the harness: T (fixtures), MAGPKG (a wrapper around the binary that
# logs each call to $CALLS), SHELL_NAME, EXPECT_FOO, and $T/preamble.sh
# defining `realise NAME` (writes the project's realised state).

. "$T/preamble.sh"

fail() {
  printf 'FAIL (%s): %s\n' "$SHELL_NAME" "$*" >&2
  exit 1
}
eq() { # actual expected what
  [[ "$1" == "$2" ]] || fail "$3: expected [$2], got [$1]"
}
calls() { # how many times magpkg ran
  local n=0 _l
  while IFS= read -r _l; do n=$((n + 1)); done <"$CALLS"
  printf '%s' "$n"
}
prompt() { # one prompt; its messages go to $T/msg
  _magpkg_hook 2>"$T/msg"
}
msg() { cat "$T/msg"; }
go() { # cd (zsh's chpwd hook may already act here), then a prompt
  cd "$1" 2>"$T/msg-cd"
  _magpkg_hook 2>"$T/msg"
  cat "$T/msg-cd" "$T/msg" >"$T/msg-all"
  mv "$T/msg-all" "$T/msg"
}
dump() { # the exported environment into $T/env.NAME, from a fixed place with a fixed OLDPWD
  cd "$T/outside" 2>/dev/null
  cd "$T/outside" 2>/dev/null
  _magpkg_hook 2>/dev/null
  env >"$T/env.$1"
}
same_env() { # NAME WHAT: the environment is byte for byte the one before entering
  dump "$1"
  cmp -s "$T/env.before" "$T/env.$1" || fail "$2: environment not restored:
$(diff "$T/env.before" "$T/env.$1")"
}
has_path() { [[ ":$PATH:" == *":$1:"* ]]; }

# --- installation --------------------------------------------------------
hook=$("$MAGPKG" hook "$SHELL_NAME")
eval "$hook"
eval "$hook" # the rc file sourced twice
if [[ -n ${BASH_VERSION-} ]]; then
  eq "$PROMPT_COMMAND" "_magpkg_hook && :" "PROMPT_COMMAND after two installs"
  (
    PROMPT_COMMAND='history -a'
    eval "$hook"
    eval "$hook"
    eq "$PROMPT_COMMAND" "_magpkg_hook && :;history -a" "existing string PROMPT_COMMAND"
  )
  (
    unset PROMPT_COMMAND
    PROMPT_COMMAND=('history -a' 'echo x')
    eval "$hook"
    eval "$hook"
    eq "${#PROMPT_COMMAND[@]}" 3 "array PROMPT_COMMAND length"
    eq "${PROMPT_COMMAND[0]}" "_magpkg_hook && :" "array PROMPT_COMMAND first"
    eq "${PROMPT_COMMAND[2]}" "echo x" "array PROMPT_COMMAND kept"
  )
else
  eq "${(j: :)precmd_functions}" "_magpkg_hook" "precmd_functions after two installs"
  eq "${(j: :)chpwd_functions}" "_magpkg_hook" "chpwd_functions after two installs"
fi

# --- nothing happens outside projects, not even a process -----------------
: >"$CALLS" # forget the `magpkg hook` calls above
go "$T/outside"
go "$T/outside/deeper"
prompt
eq "$(calls)" 0 "magpkg runs outside projects"
eq "$(msg)" "" "messages outside projects"
dump before
path_before=$PATH

# --- enter / leave -------------------------------------------------------
go "$T/proj/sub"
eq "${FOO-unset}" "$EXPECT_FOO" "FOO inside proj"
eq "$(proj-tool)" "proj-tool ran" "proj-tool inside proj"
[[ -n ${MAGPKG_DIFF-} ]] || fail "MAGPKG_DIFF not set inside proj"
[[ "$(msg)" == "magpkg: loaded "*"/proj"* ]] || fail "no loaded message: $(msg)"
same_env left "after leaving"
eq "${FOO-unset}" unset "FOO after leaving"

# --- exit status is preserved, with and without a spawn -------------------
cd "$T/proj"
st=0
(exit 3) || _magpkg_hook 2>/dev/null || st=$?
eq "$st" 3 "status through an activating prompt"
st=0
(exit 4) || _magpkg_hook || st=$?
eq "$st" 4 "status through a no-op prompt"

# --- no-op prompts spawn nothing ------------------------------------------
go "$T/proj"
n=$(calls)
prompt
prompt
prompt
eq "$(msg)" "" "messages on an unchanged prompt"
go "$T/proj/sub"  # moving inside the same project
go "$T/proj/sub2"
go "$T/proj"
eq "$(calls)" "$n" "magpkg runs on unchanged prompts"

# --- a PATH edit made inside survives leaving ------------------------------
go "$T/proj"
PATH="$T/mybin:$PATH"
export PATH
go "$T/outside"
eq "$PATH" "$T/mybin:$path_before" "PATH after leaving with a user edit"
PATH=$path_before

# --- nested and sibling projects -------------------------------------------
go "$T/proj/nested"
eq "${FOO-unset}" "nested-foo" "FOO in nested"
eq "${BAR-unset}" "nested-bar" "BAR in nested"
eq "$(nested-tool)" "nested-tool ran" "nested-tool in nested"
has_path "$T/proj/bin" && fail "proj's PATH entry still there in nested"
go "$T/proj"
eq "${FOO-unset}" "$EXPECT_FOO" "FOO back in proj"
eq "${BAR-unset}" unset "BAR back in proj"
go "$T/sib"
eq "${FOO-unset}" "sib-foo" "FOO in sibling"
has_path "$T/proj/bin" && fail "proj's PATH entry still there in sib"
eq "$(sib-tool)" "sib-tool ran" "sib-tool in sibling"
same_env siblings "after nested and sibling projects"
if [[ -n ${ZSH_VERSION-} ]]; then
  # chpwd: a command on the same line as `cd` already sees the environment.
  cd "$T/sib" 2>/dev/null && eq "${FOO-unset}" sib-foo "FOO right after cd, before any prompt"
  go "$T/outside"
fi

# --- untrusted, copied, not built -----------------------------------------
go "$T/untrusted"
eq "${UNTRUSTED-unset}" unset "UNTRUSTED in untrusted project"
[[ "$(msg)" == *"not trusted"*"magpkg allow"* ]] || fail "untrusted message: $(msg)"
prompt
eq "$(msg)" "" "untrusted message repeated"
cp -R "$T/proj" "$T/copy"
go "$T/copy"
eq "${FOO-unset}" unset "FOO in a copied project"
[[ "$(msg)" == *"not trusted"* ]] || fail "copied project message: $(msg)"
go "$T/unbuilt"
eq "${UNBUILT-unset}" unset "UNBUILT in a project never realised"
[[ "$(msg)" == *"building the environment in the background (log: "*"magpkg env --cancel"* ]] || fail "background hint: $(msg)"
# Prompts until the background realisation has finished; the first prompt
# after it loads the environment and says so.
i=0
while [[ -z ${UNBUILT-} ]] && ((i < 300)); do
  sleep 0.05
  prompt
  i=$((i + 1))
done
eq "${UNBUILT-unset}" "yes" "UNBUILT once realised in the background"
[[ "$(msg)" == "magpkg: loaded "*"(built in the background)" ]] || fail "loaded after realisation: $(msg)"
n=$(calls)
prompt
eq "$(calls)" "$n" "magpkg runs at the prompt after an activation"

# --- manifest edit: blocked until allowed, then reloads ------------------
go "$T/proj"
cp "$T/edits/proj.jsonnet" "$T/proj/magnet.jsonnet"
prompt
[[ "$(msg)" == *"blocked"*"magnet.jsonnet changed"*"magpkg allow"* ]] || fail "blocked message: $(msg)"
eq "$(msg | wc -l | tr -d ' ')" 1 "lines in the blocked message"
eq "${FOO-unset}" unset "FOO while blocked"
realise proj
prompt
[[ "$(msg)" == *"blocked"*"+EDITED"* ]] || fail "blocked message naming the change: $(msg)"
"$MAGPKG" allow 2>/dev/null
prompt
eq "${EDITED-unset}" "yes" "EDITED after allow"
[[ "$(msg)" == "magpkg: loaded "* ]] || fail "reload message: $(msg)"

# --- import edit: blocked until re-allowed, then the next prompt loads it --
cp "$T/edits/lib.libsonnet" "$T/proj/lib.libsonnet"
prompt
[[ "$(msg)" == *"blocked"*"lib.libsonnet changed"* ]] || fail "import blocked message: $(msg)"
eq "${EDITED-unset}" unset "EDITED while the import is blocked"
prompt
eq "$(msg)" "" "blocked message repeated"
"$MAGPKG" allow 2>/dev/null
prompt
eq "${LIBVAL-unset}" "two" "LIBVAL at the prompt after re-allow (nothing to build)"
[[ "$(msg)" == "magpkg: loaded "* ]] || fail "reload message after re-allow: $(msg)"

# --- deny unloads; allow brings it back ----------------------------------
"$MAGPKG" deny 2>/dev/null
prompt
eq "${LIBVAL-unset}" unset "LIBVAL after deny"
prompt
eq "$(msg)" "" "denied project message repeated"
"$MAGPKG" allow 2>/dev/null
prompt
eq "${LIBVAL-unset}" "two" "LIBVAL after allow again"

# --- deleting the manifest unloads ----------------------------------------
go "$T/gone"
eq "${GONE-unset}" "here" "GONE before the manifest is deleted"
rm "$T/gone/magnet.jsonnet"
prompt
eq "${GONE-unset}" unset "GONE after the manifest is deleted"
same_env end "at the end"

echo "ok $SHELL_NAME"
