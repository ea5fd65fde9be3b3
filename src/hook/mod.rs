/*!
Automatic activation on cd: the shell hooks, the reversible environment
diff, trust.

`magpkg hook SHELL` prints a hook (the files under `shell-hooks/`) that the
user evaluates in the shell's rc file. At each prompt the hook decides in the
shell itself, with builtins only, whether anything changed (the nearest
manifest, or a watched file's mtime against its stamp, see [`watch`]); only
then does it run `magpkg hook-env SHELL`, whose entry point is [`hook_env`].
That fast path reads the trust record ([`trust`]) and the realised
[`ProjectState`](crate::env::state::ProjectState) (written by `env`),
hashes the watched files, and prints shell code (through its
[`Dialect`](crate::dialect::Dialect)) that reverts the previous activation
and applies the new one ([`diff`]). It never evaluates Jsonnet, never uses the network, never builds,
and never fails loudly: problems become one line on stderr.

`magpkg allow` ([`allow`]) evaluates the manifest once to learn which files
it imports and binds trust to the project's canonical path and those files'
contents; `magpkg deny` ([`deny`]) revokes it; `magpkg status` ([`status`])
explains what the hook would do here.
*/

pub mod background;
pub mod entry;
pub mod project;
pub mod trust;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::dialect::{Dialect, HOOK_SHELLS};
use crate::env::diff::{self, Env, EnvDiff, Val, DIFF_VAR};
use crate::env::project::{find_as_shell, Project, MANIFEST};
use crate::error::Classify;
use crate::eval::{EvalError, Input};
use crate::settings::Settings;
use project::{Inspection, Verdict};
use trust::{Status, Summary, TrustRecord};

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("no hook for shell `{name}` (magpkg has hooks for {})", HOOK_SHELLS.join(", "))]
    UnknownShell { name: String },
    #[error("no {MANIFEST} in {} or any parent directory", dir.display())]
    NoProject { dir: PathBuf },
    #[error("cannot evaluate {} to find the files it imports", manifest.display())]
    Eval {
        manifest: PathBuf,
        #[source]
        source: EvalError,
    },
    /// A file operation failed; the error (from `fs_err`, util's writers,
    /// or [`crate::util::at`]) names the operation and the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{path} is not a valid record")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl Classify for HookError {
    fn is_user_error(&self) -> bool {
        match self {
            HookError::UnknownShell { .. } | HookError::NoProject { .. } => true,
            HookError::Eval { source, .. } => source.is_user_error(),
            HookError::Io(_) | HookError::Corrupt { .. } => false,
        }
    }
    fn hint(&self) -> Option<String> {
        match self {
            HookError::NoProject { .. } => Some("`magpkg init` writes a manifest for this directory".into()),
            HookError::Eval { source, .. } => source.hint(),
            HookError::Corrupt { path, .. } => Some(format!(
                "delete {} (the project then needs `magpkg allow` again)",
                path.display()
            )),
            _ => None,
        }
    }
}

/// An error with its causes on one line, for the hook's messages.
pub(crate) fn error_line(e: &dyn std::error::Error) -> String {
    crate::error::one_line(e)
}

/// A path for messages: `~/...` under the home directory.
pub fn display(path: &Path) -> String {
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1) {
        if let Ok(rest) = path.strip_prefix(&home) {
            return if rest.as_os_str().is_empty() {
                "~".into()
            } else {
                format!("~/{}", rest.display())
            };
        }
    }
    path.display().to_string()
}

/// The shell named `name`, if magpkg has a prompt hook for it.
pub fn for_name(name: &str) -> Result<&'static dyn Dialect, HookError> {
    crate::dialect::hook_shell(name).ok_or_else(|| HookError::UnknownShell { name: name.into() })
}

/// What `hook-env` prints: shell code on stdout, messages on stderr.
pub struct HookEnv {
    pub code: Vec<u8>,
    pub messages: Vec<String>,
}

/// The fast path run by the hook when something changed: work out which
/// environment belongs here, and print the code that gets the shell from
/// its current state there. Never fails: problems become messages.
///
/// `magpkg` is the main binary's path, for starting a background
/// realisation of a trusted project that is not ready ([`background`]);
/// without it the hook only tells how to build.
pub fn hook_env(sh: &dyn Dialect, magpkg: Option<&Path>) -> HookEnv {
    let env = diff::process_env();
    let mut messages = Vec::new();
    let current = env.get(DIFF_VAR).and_then(|v| {
        let d = EnvDiff::decode(&v.0);
        if d.is_none() {
            messages.push(format!(
                "magpkg: ignoring {DIFF_VAR}: not written by this version of magpkg"
            ));
        }
        d
    });
    let state_dir = crate::settings::state_dir();
    let mut inspection = match (&state_dir, project::current_dir()) {
        (Some(sd), Some(dir)) => {
            find_as_shell(&dir).map(|p| project::inspect(sd, p, Some(&sd.join(watch::STAMPS_DIR))))
        }
        _ => None,
    };
    // What belongs here: a ready environment, or while the trusted content
    // is not built yet, the one realised from the content trusted before.
    let (desired, previous) = match inspection.as_ref().map(|i| &i.verdict) {
        Some(Verdict::Ready(s)) => (Some(s.as_ref()), false),
        Some(Verdict::OutOfDate { previous: Some(s), .. }) => (Some(s.as_ref()), true),
        _ => (None, false),
    };

    let keep = matches!((&current, desired), (Some(c), Some(s)) if c.is_activation_of(s));
    let mut work = env.clone();
    let mut touched = BTreeSet::new();
    let mut new_diff = None;
    if !keep {
        if let Some(c) = &current {
            let reverted = c.revert(&work);
            patch(&mut work, &mut touched, reverted);
        }
        if let Some(s) = desired {
            let d = EnvDiff::activate(s, &work);
            patch(&mut work, &mut touched, d.next());
            new_diff = Some(d);
        }
    }

    let mut code = Vec::new();
    for k in &touched {
        if work.get(k) != env.get(k) {
            match work.get(k) {
                Some(v) => sh.set(&mut code, k, &v.0),
                None => sh.unset(&mut code, k),
            }
        }
    }
    match &new_diff {
        Some(d) => sh.set(&mut code, DIFF_VAR, d.encode().as_bytes()),
        None if !keep && env.contains_key(DIFF_VAR) => sh.unset(&mut code, DIFF_VAR),
        None => {}
    }
    // Remember what was activated from trusted content, so a later change
    // can be described in packages and variables, not only in files. The
    // record is watched: stamp it again, or the next prompt would ask again.
    if let (Some(d), Some(i), Some(sd)) = (&new_diff, &mut inspection, &state_dir) {
        if let (Some(t), Verdict::Ready(s)) = (&i.trust, &i.verdict) {
            let summary = Summary::of(s);
            if t.summary.as_ref() != Some(&summary) && d.root == t.root {
                let mut t = t.clone();
                t.summary = Some(summary);
                if trust::write(sd, &t).is_ok() {
                    restamp(sd, &mut i.watch, &trust::record_path(sd, &t.root));
                }
            }
        }
    }
    // A trusted project that is not ready: realise it in the background,
    // or tell how that went; one that is loading now may just have been.
    let mut pending = None;
    let mut built_in_background = false;
    if let (Some(i), Some(sd)) = (&mut inspection, &state_dir) {
        let mut touched = false;
        if new_diff.is_some() && !previous {
            built_in_background = background::just_built(sd, i, &mut touched);
        } else if !keep || previous {
            pending = background::at_prompt(sd, i, magpkg, &mut touched);
        }
        if touched {
            restamp(sd, &mut i.watch, &background::paths(sd, &i.project.root).job);
        }
    }
    if let Some(sd) = &state_dir {
        watch::gc_if_grown(&sd.join(watch::STAMPS_DIR));
    }
    let watch: Vec<(Vec<u8>, Vec<u8>)> = inspection
        .iter()
        .flat_map(|i| &i.watch)
        .map(|(p, s)| (bytes(p), bytes(s)))
        .collect();
    sh.set_watch(&mut code, &watch);

    // The entry of the environment active after this run (the shell leaves
    // it with builtins), and for a ready project the same entry kept for
    // the next shell entering it ([`entry`]).
    let active = match (&new_diff, keep) {
        (Some(d), _) => Some((d, d.encode().into_bytes())),
        (None, true) => current
            .as_ref()
            .map(|c| (c, env.get(DIFF_VAR).map(|v| v.0.clone()).unwrap_or_default())),
        _ => None,
    };
    let mut active_words = Vec::new();
    if let (Some((d, text)), Some(i)) = (&active, &inspection) {
        let e = entry::Entry {
            diff: d,
            diff_text: text,
            loaded: format!(
                "magpkg: loaded {}{}",
                display(&i.project.found),
                loaded_detail(d, Some(i))
            ),
            unloaded: format!("magpkg: unloaded {}", display(&d.root)),
            watch: &watch,
        };
        active_words = e.words(sh, &env);
        if let (Some(sd), Verdict::Ready(_), false, true) = (&state_dir, &i.verdict, previous, i.problems.is_empty()) {
            entry::write(sd, &i.project.found, sh, &active_words);
        }
    }
    // What leaving needs: the words up to the leaving code.
    let items: Vec<&[u8]> = active_words.iter().take(7).map(Vec::as_slice).collect();
    sh.set_list(&mut code, "_magpkg_active", &items);
    if let Some(sd) = &state_dir {
        sh.set_var(&mut code, "_magpkg_enter", bytes(&sd.join(entry::ENTER_DIR)).as_slice());
    }

    if let Some(i) = &inspection {
        messages.extend(i.problems.iter().map(|p| format!("magpkg: {p}")));
    }
    if previous {
        // The previous environment stays (or is) loaded: say so with why
        // the new one is not, once it is started or fails.
        if !keep {
            let mut lines = transition_messages(current.as_ref(), inspection.as_ref(), new_diff.as_ref(), None);
            if let Some(last) = lines.last_mut() {
                last.push_str(" (the previous environment)");
            }
            messages.extend(lines);
        }
        let why = match (pending, &inspection) {
            (Some(p), _) => Some(p + PREVIOUS_STAYS),
            (None, Some(i)) if !keep => verdict_line(&display(&i.project.found), &i.verdict),
            _ => None,
        };
        messages.extend(why);
    } else if !keep {
        let mut lines = transition_messages(current.as_ref(), inspection.as_ref(), new_diff.as_ref(), pending);
        if built_in_background {
            if let Some(last) = lines.last_mut() {
                last.push_str(" (built in the background)");
            }
        }
        messages.extend(lines);
    }
    HookEnv { code, messages }
}

/// The end of a line telling why a project's new environment is not loaded
/// while its previous one is.
const PREVIOUS_STAYS: &str = "; the previous environment stays loaded until then";

/// A watched file this run wrote: its stamp again, or the next prompt would
/// ask magpkg once more.
fn restamp(state_dir: &Path, watch: &mut [(PathBuf, PathBuf)], written: &Path) {
    let stamps = state_dir.join(watch::STAMPS_DIR);
    for (path, stamp) in watch {
        if path == written {
            if let Some(new) = watch::stamp(&stamps, path) {
                *stamp = new;
            }
        }
    }
}

/// `magpkg hook-env SHELL` (and the `magpkg-hook SHELL` binary): run
/// [`hook_env`] and print its code on stdout, its messages on stderr.
/// Always exit status 0: a failing hook would complain at every prompt.
pub fn run_hook_env(shell: &str, magpkg: Option<&Path>) -> i32 {
    use std::io::Write;
    let sh = match for_name(shell) {
        Ok(sh) => sh,
        Err(e) => {
            eprintln!("magpkg: {e}");
            return 0;
        }
    };
    let out = hook_env(sh, magpkg);
    // One write, so the lines cannot interleave with anything else.
    let text: String = out.messages.iter().map(|m| format!("{m}\n")).collect();
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&out.code);
    let _ = stdout.flush();
    0
}

fn bytes(p: &Path) -> Vec<u8> {
    p.as_os_str().as_encoded_bytes().to_vec()
}

/// [`diff::patch`], remembering which variables were touched.
fn patch(env: &mut Env, touched: &mut BTreeSet<String>, values: BTreeMap<String, Option<Val>>) {
    touched.extend(values.keys().cloned());
    diff::patch(env, values);
}

/// `+NEW ~CHANGED` for the variables an activation touches (magpkg's own
/// markers, `MAGPKG_ENV` and the like, left out).
fn var_summary(d: &EnvDiff) -> String {
    d.prev
        .iter()
        .filter(|(k, _)| !k.starts_with("MAGPKG_"))
        .map(|(k, prev)| match prev {
            Some(_) => format!("~{k}"),
            None => format!("+{k}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The one line telling why the project here is not active, if any.
pub fn verdict_line(shown: &str, verdict: &Verdict) -> Option<String> {
    Some(match verdict {
        Verdict::Untrusted => {
            format!("magpkg: {shown} is not trusted; run `magpkg allow` there to activate its environment")
        }
        Verdict::Denied => return None,
        Verdict::Blocked { files, changes } => format!(
            "magpkg: {shown} is blocked: {} changed since `magpkg allow`{}; run `magpkg allow` to trust the new content",
            files.join(", "),
            changes.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
        ),
        Verdict::NotBuilt => format!(
            "magpkg: {shown}: environment not built yet; `magpkg shell` builds it, then it loads at the next prompt"
        ),
        Verdict::OutOfDate { files, previous } => format!(
            "magpkg: {shown}: environment out of date ({} changed); `magpkg shell` rebuilds it{}",
            files.join(", "),
            if previous.is_some() { PREVIOUS_STAYS } else { "" }
        ),
        Verdict::Damaged { packages } => format!(
            "magpkg: {shown}: not activated: its environment uses damaged store entries ({packages}); \
             run `magpkg store verify --repair`"
        ),
        Verdict::Ready(_) => return None,
    })
}

/// The lines for going from `current` to `new` here. `pending`, when
/// given, says why the project is not loaded instead of its verdict's line.
fn transition_messages(
    current: Option<&EnvDiff>,
    here: Option<&Inspection>,
    new: Option<&EnvDiff>,
    pending: Option<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let why = |i: &Inspection, shown: &str| pending.clone().or_else(|| verdict_line(shown, &i.verdict));
    let same_root = |d: &EnvDiff| here.is_some_and(|i| i.project.root == d.root);
    let shown = here.map(|i| display(&i.project.found)).unwrap_or_default();
    match (current, new) {
        (Some(c), Some(n)) if same_root(c) => {
            out.push(format!("magpkg: reloaded {shown}{}", loaded_detail(n, here)));
        }
        (c, n) => {
            if let Some(c) = c {
                if same_root(c) {
                    // Still here but no longer activatable: one line says why.
                    if let Some(l) = here.and_then(|i| why(i, &shown)) {
                        out.push(format!("{l} (environment unloaded)"));
                    } else {
                        out.push(format!("magpkg: unloaded {shown}"));
                    }
                    return out;
                }
                out.push(format!("magpkg: unloaded {}", display(&c.root)));
            }
            match n {
                Some(n) => out.push(format!("magpkg: loaded {shown}{}", loaded_detail(n, here))),
                None => out.extend(here.and_then(|i| why(i, &shown))),
            }
        }
    }
    out
}

fn loaded_detail(d: &EnvDiff, here: Option<&Inspection>) -> String {
    let packages = match here.map(|i| &i.verdict) {
        Some(Verdict::Ready(s)) if !s.packages.is_empty() => {
            format!(": {}", s.packages.keys().cloned().collect::<Vec<_>>().join(", "))
        }
        _ => String::new(),
    };
    let vars = var_summary(d);
    if vars.is_empty() {
        packages
    } else {
        format!("{packages} ({vars})")
    }
}

/// Where a command run in `dir` (default: the current directory as the
/// shell shows it) finds its project.
fn locate(dir: Option<&Path>) -> Result<Project, HookError> {
    let start = match dir {
        Some(d) => std::path::absolute(d).map_err(|e| crate::util::at("resolve", d, e))?,
        None => project::current_dir().unwrap_or_else(|| PathBuf::from(".")),
    };
    find_as_shell(&start).ok_or(HookError::NoProject { dir: start })
}

/// What `magpkg allow` trusted.
pub struct Allowed {
    pub project: Project,
    pub record: TrustRecord,
    /// The environment realised right away (it needed no build).
    pub realised: Option<String>,
}

/// Trust the project around `dir`: its canonical path and the current
/// content of the manifest and every file it imports, and every symbolic
/// link on the way to them (found by evaluating the manifest; nothing is
/// built).
pub fn allow(dir: Option<&Path>, settings: &Settings) -> Result<Allowed, HookError> {
    let project = locate(dir)?;
    let evaluated =
        crate::eval::evaluate_value(&Input::File(project.manifest.clone()), settings.packages_dir.as_deref()).map_err(
            |source| HookError::Eval {
                manifest: project.manifest.clone(),
                source,
            },
        )?;
    // The hashes are taken after evaluating: what is trusted is the content
    // as it is now; an edit racing with this command shows as a change at
    // the next prompt. A symbolic link an import names is trusted as a link
    // (what it points to) as well as for the file it leads to.
    let files = crate::env::state::dependencies(&evaluated.files, &evaluated.named)
        .map_err(|(path, e)| crate::util::at("read", &path, e))?;
    let mut record = TrustRecord::new(project.root.clone(), Status::Allowed, files);
    // Already realised for exactly this content: remember its packages and
    // variables, so a later change can be described in those terms.
    // Realised from content trusted until now: remember it as the previous
    // environment, which the hook keeps loaded while the new one builds.
    if let Ok(Some(s)) = project::read_state(&settings.state_dir, &project.root) {
        if s.files.iter().all(|f| record.files.contains(f)) {
            record.summary = Some(Summary::of(&s));
        } else if let Ok(Some(old)) = trust::read(&settings.state_dir, &project.root) {
            let trusted = |f: &crate::env::state::FileStamp| old.files.contains(f) || old.previous.contains(f);
            if old.status == Status::Allowed && !s.files.is_empty() && s.files.iter().all(trusted) {
                record.previous = s.files.clone();
            }
        }
    }
    trust::write(&settings.state_dir, &record)?;
    // Reload after allow: an environment that needs no build is realised
    // now, so the next prompt loads it; one that does is left to the hook
    // (in the background) or `magpkg shell`. A failure here is not the
    // allow's: the same error shows where the environment is built.
    let realised = match crate::env::realise_if_built(&project, settings) {
        Ok(r) => r.map(|r| r.state.env_id),
        Err(e) => {
            tracing::debug!("not realised after allow: {}", error_line(&e));
            None
        }
    };
    Ok(Allowed {
        project,
        record,
        realised,
    })
}

/// Revoke trust in the project around `dir`: the hook will not activate it
/// (and stops mentioning it) until `magpkg allow`.
pub fn deny(dir: Option<&Path>, settings: &Settings) -> Result<Project, HookError> {
    let project = locate(dir)?;
    trust::write(
        &settings.state_dir,
        &TrustRecord::new(project.root.clone(), Status::Denied, Vec::new()),
    )?;
    Ok(project)
}

/// `magpkg status`: which project is here, whether it is trusted, realised
/// and active in the calling shell, and if not, why.
pub fn status(dir: Option<&Path>, settings: &Settings) -> Result<String, HookError> {
    let active = std::env::var_os(DIFF_VAR).and_then(|v| EnvDiff::decode(v.as_encoded_bytes()));
    let mut out = String::new();
    let mut line = |k: &str, v: String| out.push_str(&format!("{k:<9}{v}\n"));
    let project = match locate(dir) {
        Ok(p) => p,
        Err(HookError::NoProject { dir }) => {
            line(
                "project",
                format!("none: no {MANIFEST} in {} or any parent directory", display(&dir)),
            );
            match active {
                Some(a) => line(
                    "active",
                    format!("{} (the hook unloads it at the next prompt)", display(&a.root)),
                ),
                None => line("active", "nothing".into()),
            }
            return Ok(out);
        }
        Err(e) => return Err(e),
    };
    let i = project::inspect(&settings.state_dir, project, None);
    let shown = display(&i.project.found);
    line("project", format!("{shown} ({})", display(&i.project.manifest)));
    let trust_text = match (&i.verdict, &i.trust) {
        (Verdict::Untrusted, _) => "not trusted: run `magpkg allow` to let the hook activate it".into(),
        (Verdict::Denied, _) => "denied by `magpkg deny`: run `magpkg allow` to let the hook activate it".into(),
        (Verdict::Blocked { files, changes }, _) => format!(
            "blocked: {} changed since `magpkg allow`{}; run `magpkg allow` to trust the new content",
            files.join(", "),
            changes.as_ref().map(|c| format!(" ({c})")).unwrap_or_default()
        ),
        (_, Some(t)) => format!(
            "allowed ({})",
            t.files
                .iter()
                .map(|f| f
                    .path
                    .strip_prefix(&i.project.root)
                    .unwrap_or(&f.path)
                    .display()
                    .to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (_, None) => "not trusted".into(),
    };
    line("trust", trust_text);
    let env_text = match (&i.verdict, &i.state) {
        (Verdict::NotBuilt, _) => "not built: `magpkg shell` builds it".into(),
        (Verdict::OutOfDate { files, .. }, _) => {
            format!("out of date ({} changed): `magpkg shell` rebuilds it", files.join(", "))
        }
        (Verdict::Ready(s), _) => format!(
            "built: env {} ({} package{}{})",
            &s.env_id[..s.env_id.len().min(12)],
            s.packages.len(),
            if s.packages.len() == 1 { "" } else { "s" },
            if s.packages.is_empty() {
                String::new()
            } else {
                format!(": {}", s.packages.keys().cloned().collect::<Vec<_>>().join(", "))
            }
        ),
        (Verdict::Damaged { packages }, _) => format!(
            "built, but not activated: damaged store entries ({packages}); `magpkg store verify --repair` repairs them"
        ),
        (Verdict::Blocked { .. }, _) => "not used until `magpkg allow`".into(),
        (_, _) => "not looked at until the project is trusted".into(),
    };
    line("env", env_text);
    for p in &i.problems {
        line("problem", p.clone());
    }
    let active_text = match (&active, &i.verdict) {
        (Some(a), Verdict::Ready(s)) if a.root == i.project.root && a.is_activation_of(s) => {
            "yes, in this shell".to_string()
        }
        (Some(a), Verdict::OutOfDate { previous: Some(s), .. }) if a.is_activation_of(s) => {
            "the previous environment, in this shell (kept until the new one is built)".into()
        }
        (Some(a), _) if a.root == i.project.root => {
            "an older state of this project (the hook reloads or unloads it at the next prompt)".into()
        }
        (Some(a), _) => format!(
            "no: {} is active in this shell (the hook switches at the next prompt)",
            display(&a.root)
        ),
        (None, Verdict::Ready(_)) => {
            "no: nothing is active in this shell; install the hook (`magpkg hook --help`) or run `magpkg shell`".into()
        }
        (None, _) => "no".into(),
    };
    line("active", active_text);
    Ok(out)
}
