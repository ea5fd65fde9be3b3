//! `magpkg app`: run and manage portable apps (mpkg app directories).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::app::appimage::{self, InstallOptions};
use crate::app::embedded::Signature;
use crate::app::integrate::{self, Targets};
use crate::app::model::{App, Apps};
use crate::app::run::{self, Options};
use crate::app::run::{Grant, GrantPath};
use crate::app::select::{self, Host, Status};
use crate::app::update::{self, Outcome, UpdateOptions};
use crate::app::{bridge, sync, AppError};

use super::Ctx;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the apps and the variant each would run
    List(ListArgs),
    /// Show an app: its settings, variants (and why each is or is not chosen), entries and integration
    #[command(visible_alias = "info")]
    Show(ShowArgs),
    /// Run an app: NAME[:ENTRY] [-- ARGS...]; exits with the app's status
    Run(RunArgs),
    /// Write the PATH launchers (add_to_path) and menu entries (add_to_apps) of an app, or of every app
    Integrate(IntegrateArgs),
    /// Remove an app's launchers and menu entries; with --purge, the app too (its data/ only when confirmed)
    Remove(RemoveArgs),
    /// Install an AppImage as a new variant: its image is extracted, the AppImage is never executed
    InstallAppimage(InstallArgs),
    /// Install an AppDir (a directory with AppRun) as a new variant
    InstallAppdir(InstallArgs),
    /// Turn a package built in the store into an app variant with a generated MPKG
    Export(ExportArgs),
    /// Build the package definition in <app>/src/ and add the result as a variant
    Build(BuildArgs),
    /// Keep launchers and menu entries in step with the apps root as it changes (inotify), until killed
    Watch(WatchArgs),
    /// Update AppImages that carry update information (zsync, GitHub releases); the old variant stays until the new one has run once
    Update(UpdateArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The app (default: every app with update information)
    pub name: Option<String>,
    /// Only say what would be downloaded and installed
    #[arg(long)]
    pub dry_run: bool,
    /// Remove the variant of the app's last update, which has not run successfully yet, and go back to the old one
    #[arg(long, requires = "name", conflicts_with = "dry_run")]
    pub rollback: bool,
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Write a systemd user unit running `magpkg app watch` instead (enable it with systemctl --user)
    #[arg(long)]
    pub install_unit: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The app, optionally with the entry to rank variants for (NAME[:ENTRY])
    #[arg(value_name = "NAME[:ENTRY]")]
    pub target: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Run this variant (a directory name under <app>/package/) instead of the selected one
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,
    /// Run in a bubblewrap sandbox: home hidden, everything else read-only but the app's data/, its TMPDIR and what is granted (default for compatible_100 apps)
    #[arg(long, overrides_with = "no_sandbox")]
    pub sandbox: bool,
    /// Run without the sandbox even if the app is compatible_100
    #[arg(long)]
    pub no_sandbox: bool,
    /// Show PATH to the sandboxed app, read-only (`cwd`: the working directory; repeatable)
    #[arg(long, value_name = "PATH")]
    pub sandbox_read: Vec<String>,
    /// Let the sandboxed app write to PATH (`cwd`: the working directory, `tmp`: the host's /tmp; repeatable)
    #[arg(long, value_name = "PATH")]
    pub sandbox_write: Vec<String>,
    /// Name the app is started as (set by launchers; becomes ARGV0 for AppDirs)
    #[arg(long, hide = true)]
    pub argv0: Option<String>,
    /// The app and the entry to run (default: run_default)
    #[arg(value_name = "NAME[:ENTRY]")]
    pub target: String,
    /// Arguments passed to the app, intact (they become $MPKG_ARGS)
    #[arg(value_name = "ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<OsString>,
}

#[derive(Debug, clap::Args)]
pub struct IntegrateArgs {
    /// The app (default: every app; integration of apps removed by hand is cleaned up)
    pub name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The app
    pub name: String,
    /// Also delete the app's directory (variants, settings, src/); data/ is kept unless confirmed
    #[arg(long)]
    pub purge: bool,
    /// With --purge: delete data/ too, without asking
    #[arg(long, requires = "purge")]
    pub purge_data: bool,
}

#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The AppImage file or AppDir directory
    pub path: PathBuf,
    /// App name (default: from its desktop file, else from the file name)
    #[arg(long)]
    pub name: Option<String>,
    /// Variant directory name (default: NAME-VERSION-ARCH)
    #[arg(long)]
    pub variant: Option<String>,
    /// Leave add_to_path and add_to_apps out of a new app's .mpkg: no launchers or menu entries
    #[arg(long)]
    pub no_integrate: bool,
    /// Install an AppImage whose embedded signature is invalid (it is refused otherwise); it stays flagged
    #[arg(long)]
    pub allow_invalid_signature: bool,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// A store package: its name or the start of its id
    pub package: String,
    /// App name (default: the package name)
    #[arg(long)]
    pub name: Option<String>,
    /// Variant directory name (default: NAME-VERSION-ID)
    #[arg(long)]
    pub variant: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The app whose src/ holds the package definition
    pub name: String,
    /// Keep the build directory of a failed build
    #[arg(long)]
    pub keep_failed: bool,
}

pub fn run(cmd: Command, ctx: &Ctx) -> anyhow::Result<i32> {
    let apps = Apps::new(&ctx.settings.apps_dir);
    // Launchers and menu entries follow the apps root: commands that read
    // it bring them in step first (quietly; nothing happens when nothing
    // changed).
    if matches!(cmd, Command::List(_) | Command::Show(_) | Command::Run(_)) {
        auto_sync(&apps, ctx, false);
    }
    match cmd {
        Command::List(a) => list(&apps, a),
        Command::Show(a) => show(&apps, ctx, a),
        Command::Run(a) => run_app(&apps, a),
        Command::Integrate(a) => integrate_cmd(&apps, ctx, a),
        Command::Remove(a) => remove(&apps, ctx, a),
        Command::InstallAppimage(a) => install(&apps, ctx, a, true),
        Command::InstallAppdir(a) => install(&apps, ctx, a, false),
        Command::Export(a) => export(&apps, ctx, a),
        Command::Build(a) => build(&apps, ctx, a),
        Command::Watch(a) => watch(&apps, ctx, a),
        Command::Update(a) => update_cmd(&apps, ctx, a),
    }
}

/// The automatic sync ([`sync::sync`]): its changes are not printed (an
/// app's output is the app's), a failure is one warning.
fn auto_sync(apps: &Apps, ctx: &Ctx, print: bool) {
    let r = targets(apps, ctx).map_err(|e| e.to_string()).and_then(|t| {
        sync::sync(apps, &t, &Host::current(), &ctx.settings.state_dir, false).map_err(|e| crate::error::one_line(&e))
    });
    match r {
        Ok(Some(rep)) if print => print_report(&rep),
        Ok(_) => {}
        Err(e) => warn_all([format!(
            "could not bring app launchers and menu entries up to date: {e}"
        )]),
    }
}

fn watch(apps: &Apps, ctx: &Ctx, a: WatchArgs) -> anyhow::Result<i32> {
    let t = targets(apps, ctx)?;
    if a.install_unit {
        let Some(base) = directories::BaseDirs::new() else {
            anyhow::bail!("no home directory to put a systemd user unit in");
        };
        let dir = base.config_dir().join("systemd/user");
        let path = dir.join("magpkg-app-watch.service");
        crate::util::write_atomic(&path, sync::unit_text(apps, &t).as_bytes())?;
        let mut err = std::io::stderr().lock();
        writeln!(err, "wrote {}", path.display())?;
        writeln!(
            err,
            "start it now and at every login: systemctl --user daemon-reload && systemctl --user enable --now magpkg-app-watch.service"
        )?;
        return Ok(0);
    }
    writeln!(std::io::stderr().lock(), "watching {}", apps.root.display())?;
    let settle = std::time::Duration::from_millis(200);
    sync::watch(
        apps,
        &t,
        &Host::current(),
        &ctx.settings.state_dir,
        settle,
        |r| match r {
            Ok(rep) => print_report(&rep),
            Err(e) => warn_all([crate::error::one_line(&e)]),
        },
    )?;
    Ok(0)
}

fn split_target(t: &str) -> (&str, Option<&str>) {
    match t.split_once(':') {
        Some((a, e)) if !e.is_empty() => (a, Some(e)),
        Some((a, _)) => (a, None),
        None => (t, None),
    }
}

fn warn_all(ws: impl IntoIterator<Item = String>) {
    let mut err = std::io::stderr().lock();
    for w in ws {
        let _ = writeln!(err, "warning: {w}");
    }
}

fn targets(apps: &Apps, ctx: &Ctx) -> anyhow::Result<Targets> {
    Ok(Targets {
        bin_dir: ctx.settings.bin_dir.clone(),
        applications_dir: ctx.settings.applications_dir.clone(),
        magpkg: std::env::current_exe()?,
        apps_root: apps.root.clone(),
    })
}

fn run_app(apps: &Apps, a: RunArgs) -> anyhow::Result<i32> {
    let (name, entry) = split_target(&a.target);
    let app = apps.open(name)?;
    warn_all(app.warnings());
    let sandbox = if a.sandbox {
        Some(true)
    } else if a.no_sandbox {
        Some(false)
    } else {
        None
    };
    let cwd = std::env::current_dir()?;
    let grant = |p: &String, write: bool| Grant {
        what: GrantPath::parse(p, &cwd),
        write,
    };
    let grants: Vec<Grant> = a
        .sandbox_read
        .iter()
        .map(|p| grant(p, false))
        .chain(a.sandbox_write.iter().map(|p| grant(p, true)))
        .collect();
    let opts = Options {
        entry: entry.map(String::from),
        variant: a.variant,
        sandbox,
        args: a.args,
        argv0: a.argv0,
        grants,
    };
    let host = Host::current();
    let plan = run::plan(&app, &opts, &host);
    // A broken variant is named once: by the error when nothing runs or
    // when it was the one asked for, else by a warning.
    let named_by_error = matches!(plan, Err(AppError::NoVariant { .. }))
        || opts.variant.as_deref().is_some_and(|v| app.broken_variant(v).is_some());
    if !named_by_error {
        warn_all(app.broken.iter().map(|b| b.warning()));
    }
    let plan = plan?;
    warn_all(plan.warnings.iter().cloned());
    if !plan.sandboxed && !opts.grants.is_empty() {
        warn_all([
            "--sandbox-read/--sandbox-write do nothing without the sandbox (this run is not sandboxed)".to_string(),
        ]);
    }
    if let Some(v) = app.variant(&plan.variant) {
        if let Some(Signature::Invalid { reason }) = v.manifest.signature.as_deref().map(Signature::parse) {
            warn_all([format!(
                "variant `{}` of `{}` came from an AppImage with an INVALID signature ({reason}); it may not be what its publisher released",
                v.name, app.name,
            )]);
        }
    }
    // The first run of an update's new variant decides whether the old
    // one can go: it runs as a child, so magpkg sees how it ended.
    if let Some(p) = update::pending(&app).filter(|p| p.new == plan.variant) {
        return first_run_of_update(&app, &p, &plan);
    }
    // exec: on success this never returns and the app's status is ours.
    Err(run::exec(&plan).into())
}

/// Run the new variant of an update as a child; remove the old variant when
/// it exits with status 0, keep both (and say how to go back) otherwise.
fn first_run_of_update(app: &App, p: &update::Pending, plan: &run::Plan) -> anyhow::Result<i32> {
    let status = run::spawn_and_wait(plan)?;
    if status == 0 {
        if let Err(e) = update::confirm(app, p) {
            warn_all([format!(
                "the update of `{}` ran, but its old variant `{}` could not be removed: {}",
                app.name,
                p.old,
                crate::error::one_line(&e)
            )]);
        }
    } else {
        warn_all([format!(
            "the updated variant `{}` of `{}` exited with status {status} on its first run; the previous variant `{}` is kept \
             (`magpkg app update --rollback {}` removes the update, `magpkg app run --variant {} {}` runs the old one)",
            p.new, app.name, p.old, app.name, p.old, app.name
        )]);
    }
    Ok(status)
}

fn update_cmd(apps: &Apps, ctx: &Ctx, a: UpdateArgs) -> anyhow::Result<i32> {
    let host = Host::current();
    let mut out = std::io::stdout().lock();
    if a.rollback {
        let name = a.name.as_deref().expect("clap requires a name with --rollback");
        let app = apps.open(name)?;
        let p = update::rollback(&app)?;
        writeln!(
            out,
            "{name}: removed the update's variant {}; {} runs again",
            p.new, p.old
        )?;
        drop(out);
        auto_sync(apps, ctx, true);
        return Ok(0);
    }
    let names = match &a.name {
        Some(n) => vec![n.clone()],
        None => apps.names()?,
    };
    let opts = UpdateOptions { dry_run: a.dry_run };
    let mut failed = 0;
    let mut last_err = None;
    let mut checked = 0;
    for name in &names {
        let app = match apps.open(name) {
            Ok(app) => app,
            Err(e) if a.name.is_none() => {
                warn_all([format!("skipping `{name}`: {}", crate::error::one_line(&e))]);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if a.name.is_none() && !update::has_update_info(&app) {
            continue;
        }
        checked += 1;
        match update::update(apps, &app, &ctx.settings, &host, &opts) {
            Ok(c) => print_update(&mut out, &c)?,
            Err(e) if a.name.is_some() => return Err(e.into()),
            Err(e) => {
                failed += 1;
                writeln!(out, "{name}: failed")?;
                let err = anyhow::Error::from(e);
                warn_all([format!("{name}: {err:#}")]);
                last_err = Some(err);
            }
        }
    }
    if a.name.is_none() && checked == 0 {
        writeln!(out, "no app in {} has update information", apps.root.display())?;
    }
    drop(out);
    if !a.dry_run {
        auto_sync(apps, ctx, true);
    }
    match last_err {
        Some(e) if failed == 1 => Err(e),
        Some(e) => Err(e.context(format!("{failed} of {checked} apps could not be updated"))),
        None => Ok(0),
    }
}

fn print_update(out: &mut impl Write, c: &update::Checked) -> std::io::Result<()> {
    match &c.outcome {
        Outcome::UpToDate { variant } => writeln!(out, "{}: up to date ({variant})", c.app),
        Outcome::Available { file, url, size } => writeln!(
            out,
            "{}: would update {} to {file} ({size} bytes from {url}; the old variant stays until the new one has run once)",
            c.app, c.variant
        ),
        Outcome::Installed {
            file,
            url,
            transfer,
            installed,
        } => {
            for w in &installed.warnings {
                writeln!(std::io::stderr().lock(), "warning: {w}")?;
            }
            let signed = match &installed.signature {
                Some(s @ Signature::Valid { .. }) => format!(", {}", s.describe()),
                _ => String::new(),
            };
            let how = match &transfer.reused_from {
                Some(v) => format!(
                    "{} bytes downloaded from {url}, {} bytes reused from the AppImage of {v}",
                    transfer.downloaded, transfer.reused
                ),
                None => format!("{} bytes downloaded from {url}, whole file", transfer.downloaded),
            };
            writeln!(
                out,
                "{}: updated {} to {} ({file}, {how}{signed}); {} stays until {} has run once successfully",
                c.app, c.variant, installed.variant, c.variant, installed.variant
            )
        }
    }
}

fn list(apps: &Apps, a: ListArgs) -> anyhow::Result<i32> {
    let host = Host::current();
    let mut rows = Vec::new();
    let mut json = Vec::new();
    for name in apps.names()? {
        match apps.open(&name) {
            Ok(app) => {
                warn_all(app.broken.iter().map(|b| b.warning()));
                let chosen = select::select(&app, None, None, &host);
                let (variant, version) = match &chosen {
                    Ok((v, _)) => (v.name.clone(), v.manifest.version.clone().unwrap_or_default()),
                    Err(_) => ("-".into(), String::new()),
                };
                let note = app
                    .settings
                    .notes
                    .as_deref()
                    .and_then(|n| n.lines().next())
                    .unwrap_or("")
                    .to_string();
                json.push(serde_json::json!({
                    "name": name,
                    "dir": app.dir,
                    "variants": app.variants.iter().map(|v| v.name.clone()).collect::<Vec<_>>(),
                    "selected": chosen.as_ref().ok().map(|(v, _)| v.name.clone()),
                    "error": chosen.as_ref().err().map(|e| e.to_string()),
                    "notes": app.settings.notes,
                }));
                let status = if chosen.is_err() { "(nothing runs here)" } else { "" };
                rows.push([name, version, variant, format!("{note}{status}")]);
            }
            Err(e) => {
                json.push(serde_json::json!({"name": name, "error": e.to_string()}));
                rows.push([name, String::new(), "-".into(), format!("error: {e}")]);
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        return Ok(0);
    }
    if rows.is_empty() {
        writeln!(out, "no apps in {}", apps.root.display())?;
        return Ok(0);
    }
    let header = ["NAME", "VERSION", "VARIANT", "NOTES"].map(String::from);
    let mut width = [0usize; 3];
    for r in std::iter::once(&header).chain(&rows) {
        for i in 0..3 {
            width[i] = width[i].max(r[i].chars().count());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let line = format!(
            "{:w0$}  {:w1$}  {:w2$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            w0 = width[0],
            w1 = width[1],
            w2 = width[2]
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(0)
}

fn show(apps: &Apps, ctx: &Ctx, a: ShowArgs) -> anyhow::Result<i32> {
    let (name, entry) = split_target(&a.target);
    let app = apps.open(name)?;
    let host = Host::current();
    let ranked = select::rank(&app, entry, &host);
    let t = targets(apps, ctx)?;
    let integrated = integrate::integrated_files(&app.name, &t)?;
    if a.json {
        let variants: Vec<_> = ranked
            .iter()
            .map(|(n, st)| {
                let v = app.variant(n).expect("ranked variants exist");
                let mut j = serde_json::json!({
                    "name": n,
                    "dir": v.dir,
                    "version": v.manifest.version,
                    "compatible_100": v.manifest.compatible_100,
                    "origin": v.manifest.origin,
                    "entries": v.manifest.content.iter().map(|e| e.name.clone()).collect::<Vec<_>>(),
                });
                let resolved = match st {
                    Status::Candidate {
                        rank,
                        native,
                        preferred,
                        resolved,
                    } => {
                        j["rank"] = (*rank).into();
                        j["native"] = (*native).into();
                        j["preferred"] = (*preferred).into();
                        Some(resolved)
                    }
                    Status::Rejected { reason, resolved } => {
                        j["rejected"] = reason.clone().into();
                        resolved.as_ref()
                    }
                };
                if let Some(sig) = variant_signature(v, resolved.map(|r| &**r)) {
                    j["signature"] = signature_json(&sig);
                }
                if let Some(u) = &v.manifest.update_info {
                    j["update_info"] = u.clone().into();
                }
                if let Some(r) = resolved {
                    j["entry"] = serde_json::json!({
                        "name": r.entry.name,
                        "file": r.file,
                        "type": r.kind,
                        "os": r.os,
                        "architecture": r.arch,
                        "appimage": r.appimage,
                        "detected": r.detected,
                    });
                }
                j
            })
            .collect();
        let s = &app.settings;
        let j = serde_json::json!({
            "name": app.name,
            "dir": app.dir,
            "settings": s.path,
            "run_default": s.run_default,
            "prefered_variants": s.preferred_variants,
            "disabled_variants": s.disabled_variants,
            "add_to_path": s.add_to_path,
            "add_to_apps": s.add_to_apps,
            "notes": s.notes,
            "display_name": s.display_name,
            "icon": s.icon,
            "sandbox": s.sandbox,
            "sandbox_read": s.sandbox_read,
            "sandbox_write": s.sandbox_write,
            "unknown_keys": s.extra.iter().cloned().collect::<serde_json::Map<_, _>>(),
            "variants": variants,
            "integration": integrated,
            "pending_update": update::pending(&app),
            "broken_variants": app.broken.iter().map(|b| serde_json::json!({
                "name": b.name,
                "dir": b.dir,
                "error": b.error,
            })).collect::<Vec<_>>(),
            "warnings": app.warnings().into_iter().chain(app.broken.iter().map(|b| b.warning())).collect::<Vec<_>>(),
        });
        writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&j)?)?;
        return Ok(0);
    }
    warn_all(app.warnings().into_iter().chain(app.broken.iter().map(|b| b.warning())));
    let mut out = std::io::stdout().lock();
    show_text(&mut out, &app, entry, &ranked, &integrated)?;
    Ok(0)
}

fn show_text(
    out: &mut impl Write,
    app: &App,
    entry: Option<&str>,
    ranked: &[(String, Status)],
    integrated: &[PathBuf],
) -> std::io::Result<()> {
    let s = &app.settings;
    writeln!(out, "{} ({})", app.name, app.dir.display())?;
    match &s.path {
        Some(p) => writeln!(out, "settings: {}", p.display())?,
        None => writeln!(out, "settings: none (no .mpkg file)")?,
    }
    let list = |v: &[String]| if v.is_empty() { "-".to_string() } else { v.join(", ") };
    writeln!(out, "  run_default: {}", s.run_default.as_deref().unwrap_or("-"))?;
    writeln!(out, "  prefered_variants: {}", list(&s.preferred_variants))?;
    writeln!(out, "  disabled_variants: {}", list(&s.disabled_variants))?;
    writeln!(out, "  add_to_path: {}", list(&s.add_to_path))?;
    writeln!(out, "  add_to_apps: {}", list(&s.add_to_apps))?;
    if let Some(n) = &s.notes {
        writeln!(out, "  notes: {}", n.replace('\n', "\n         "))?;
    }
    for (k, v) in [("display_name", &s.display_name), ("icon", &s.icon)] {
        if let Some(v) = v {
            writeln!(out, "  {k}: {v}")?;
        }
    }
    if let Some(b) = s.sandbox {
        writeln!(out, "  sandbox: {}", if b { "on" } else { "off" })?;
    }
    for (k, v) in [("sandbox_read", &s.sandbox_read), ("sandbox_write", &s.sandbox_write)] {
        if !v.is_empty() {
            writeln!(out, "  {k}: {}", v.join(", "))?;
        }
    }
    for (k, v) in &s.extra {
        writeln!(out, "  {k} (unknown key, kept): {v}")?;
    }
    let what = entry
        .or(s.run_default.as_deref())
        .map(|e| format!("entry `{e}`"))
        .unwrap_or_else(|| "the default entry".into());
    writeln!(out, "variants, ranked for {what}:")?;
    if ranked.is_empty() && app.broken.is_empty() {
        writeln!(out, "  none (add one under {})", app.package_dir().display())?;
    }
    for b in &app.broken {
        writeln!(out, "  -  {}: skipped: {}", b.name, b.error)?;
    }
    for (n, st) in ranked {
        let v = app.variant(n).expect("ranked variants exist");
        let version = v.manifest.version.as_deref().unwrap_or("?");
        match st {
            Status::Candidate {
                rank,
                native,
                preferred,
                resolved,
            } => {
                let mut tags = vec![if *native { "native" } else { "compatible" }];
                if *preferred {
                    tags.push("preferred");
                }
                if v.manifest.compatible_100 {
                    tags.push("compatible_100: sandboxed");
                }
                let mark = if *rank == 0 { "*" } else { " " };
                writeln!(
                    out,
                    "{mark} {rank}. {n} (version {version}): {} {}/{} [{}]",
                    resolved.kind,
                    resolved.os,
                    resolved.arch,
                    tags.join(", ")
                )?;
            }
            Status::Rejected { reason, resolved } => {
                let what = resolved
                    .as_ref()
                    .map(|r| format!("{} {}/{}, ", r.kind, r.os, r.arch))
                    .unwrap_or_default();
                writeln!(out, "  -  {n} (version {version}): {what}rejected: {reason}")?
            }
        }
        let entries: Vec<String> = v.manifest.content.iter().map(|e| e.name.clone()).collect();
        writeln!(
            out,
            "       entries: {}",
            if entries.is_empty() {
                "-".into()
            } else {
                entries.join(", ")
            }
        )?;
        let resolved = match st {
            Status::Candidate { resolved, .. } => Some(resolved),
            Status::Rejected { resolved, .. } => resolved.as_ref(),
        };
        if let Some(sig) = variant_signature(v, resolved.map(|r| &**r)) {
            writeln!(out, "       signature: {}", sig.describe())?;
        }
        if let Some(u) = &v.manifest.update_info {
            writeln!(out, "       updates from: {u}")?;
        }
    }
    if let Some(p) = update::pending(app) {
        writeln!(
            out,
            "update: {} replaces {} once it has run successfully (`magpkg app update --rollback {}` goes back)",
            p.new, p.old, app.name
        )?;
    }
    if integrated.is_empty() {
        writeln!(out, "integration: none")?;
    } else {
        writeln!(out, "integration:")?;
        for p in integrated {
            writeln!(out, "  {}", p.display())?;
        }
    }
    Ok(())
}

/// The signature of a variant: recorded at install for an extracted
/// AppImage, checked now for an AppImage kept as a file (its entry's file).
fn variant_signature(v: &crate::app::Variant, resolved: Option<&select::Resolved>) -> Option<Signature> {
    if let Some(s) = &v.manifest.signature {
        return Some(Signature::parse(s));
    }
    let r = resolved.filter(|r| r.appimage == Some(2))?;
    Some(
        crate::app::embedded::verify(&r.file).unwrap_or_else(|reason| Signature::Invalid {
            reason: format!("cannot read it: {reason}"),
        }),
    )
}

fn signature_json(s: &Signature) -> serde_json::Value {
    match s {
        Signature::Unsigned => serde_json::json!({"status": "unsigned"}),
        Signature::Valid { fingerprint, signer } => {
            serde_json::json!({"status": "valid", "fingerprint": fingerprint, "signer": signer})
        }
        Signature::Invalid { reason } => serde_json::json!({"status": "invalid", "reason": reason}),
        Signature::Unchecked { reason } => serde_json::json!({"status": "unchecked", "reason": reason}),
    }
}

fn print_report(r: &integrate::Report) {
    let mut err = std::io::stderr().lock();
    for p in &r.written {
        let _ = writeln!(err, "wrote {}", p.display());
    }
    for p in &r.removed {
        let _ = writeln!(err, "removed {}", p.display());
    }
    drop(err);
    warn_all(r.warnings.iter().cloned());
}

fn integrate_cmd(apps: &Apps, ctx: &Ctx, a: IntegrateArgs) -> anyhow::Result<i32> {
    let t = targets(apps, ctx)?;
    let host = Host::current();
    let rep = match &a.name {
        Some(n) => {
            let app = apps.open(n)?;
            warn_all(app.warnings());
            integrate::integrate(&app, &t, &host)?
        }
        None => sync::sync(apps, &t, &host, &ctx.settings.state_dir, true)?.unwrap_or_default(),
    };
    print_report(&rep);
    if !path_has(&t.bin_dir) && rep.written.iter().any(|p| p.starts_with(&t.bin_dir)) {
        warn_all([format!(
            "{} is not on your PATH; add it to use the launchers",
            t.bin_dir.display()
        )]);
    }
    Ok(0)
}

fn path_has(dir: &std::path::Path) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d == dir))
}

fn remove(apps: &Apps, ctx: &Ctx, a: RemoveArgs) -> anyhow::Result<i32> {
    crate::app::validate_name(&a.name)?;
    let t = targets(apps, ctx)?;
    let dir = apps.dir(&a.name);
    if !a.purge && dir.exists() {
        // An app whose settings cannot be read still loses its files.
        if let Err(e) = turn_off_integration(apps, &a.name) {
            warn_all([format!("could not turn integration off in the app's settings: {e:#}")]);
        }
    }
    let rep = integrate::unintegrate(&a.name, &t)?;
    print_report(&rep);
    if !dir.exists() {
        if rep.removed.is_empty() {
            let names = apps.names().unwrap_or_default();
            return Err(AppError::NotFound {
                name: a.name.clone(),
                root: apps.root.clone(),
                suggestion: crate::util::closest(&a.name, names.iter().map(String::as_str)),
            }
            .into());
        }
        return Ok(0);
    }
    let mut err = std::io::stderr().lock();
    if !a.purge {
        writeln!(
            err,
            "the app stays in {}; `magpkg app remove --purge {}` deletes it",
            dir.display(),
            a.name
        )?;
        return Ok(0);
    }
    // Everything but data/ goes.
    for ent in fs_err::read_dir(&dir)? {
        let p = ent?.path();
        if p.file_name().is_some_and(|n| n == "data") {
            continue;
        }
        crate::store::remove_tree(&p)?;
    }
    let data = dir.join("data");
    let data_files = walkdir::WalkDir::new(&data)
        .min_depth(1)
        .into_iter()
        .filter_map(|e| e.ok())
        .count();
    let drop_data = if !data.exists() || data_files == 0 || a.purge_data {
        true
    } else if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        write!(
            err,
            "delete {} ({data_files} files and directories of user data)? [y/N] ",
            data.display()
        )?;
        err.flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
    } else {
        false
    };
    if drop_data {
        crate::store::remove_tree(&dir)?;
        writeln!(err, "removed {}", dir.display())?;
    } else {
        writeln!(
            err,
            "removed the app but kept its data in {} ({data_files} {}); delete it by hand or pass --purge-data",
            data.display(),
            if data_files == 1 { "entry" } else { "entries" }
        )?;
    }
    Ok(0)
}

/// Integration follows the settings, so removing it means editing them: the
/// Python form gets `add_to_path = []` and `add_to_apps = []` appended (the
/// last assignment wins; delete the lines to integrate again).
fn turn_off_integration(apps: &Apps, name: &str) -> anyhow::Result<()> {
    let app = apps.open(name)?;
    let s = &app.settings;
    if s.add_to_path.is_empty() && s.add_to_apps.is_empty() {
        return Ok(());
    }
    let Some(path) = &s.path else { return Ok(()) };
    if path.extension().is_some_and(|e| e == "jsonnet") {
        warn_all([format!(
            "{} still asks for launchers or menu entries (add_to_path, add_to_apps): they come back at the next sync unless you edit it",
            path.display()
        )]);
        return Ok(());
    }
    let mut text = fs_err::read_to_string(path)?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# `magpkg app remove` turned the launchers and menu entries off; delete these lines to get them back.\nadd_to_path = []\nadd_to_apps = []\n");
    crate::util::write_atomic(path, text.as_bytes())?;
    writeln!(std::io::stderr().lock(), "turned integration off in {}", path.display())?;
    Ok(())
}

fn install(apps: &Apps, ctx: &Ctx, a: InstallArgs, appimage: bool) -> anyhow::Result<i32> {
    let opts = InstallOptions {
        name: a.name,
        variant: a.variant,
        integrate: !a.no_integrate,
        allow_invalid_signature: a.allow_invalid_signature,
    };
    let inst = if appimage {
        appimage::install_appimage(apps, &a.path, &opts)?
    } else {
        appimage::install_appdir(apps, &a.path, &opts)?
    };
    warn_all(inst.warnings.iter().cloned());
    let signed = match &inst.signature {
        Some(s @ Signature::Valid { .. }) => format!(" ({})", s.describe()),
        _ => String::new(),
    };
    writeln!(
        std::io::stderr().lock(),
        "installed {} as variant {} of app `{}`{signed}",
        a.path.display(),
        inst.variant,
        inst.app
    )?;
    auto_sync(apps, ctx, true);
    writeln!(std::io::stdout().lock(), "{}", inst.dir.display())?;
    Ok(0)
}

fn export(apps: &Apps, ctx: &Ctx, a: ExportArgs) -> anyhow::Result<i32> {
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    let rec = bridge::find_package(&store, &a.package)?;
    let e = bridge::export(apps, &store, &rec, a.name.as_deref(), a.variant.as_deref())?;
    auto_sync(apps, ctx, true);
    report_export(&e)
}

fn report_export(e: &bridge::Exported) -> anyhow::Result<i32> {
    warn_all(e.warnings.iter().cloned());
    if e.unchanged {
        writeln!(
            std::io::stderr().lock(),
            "variant {} of `{}` already holds this package",
            e.variant,
            e.app
        )?;
    } else {
        writeln!(
            std::io::stderr().lock(),
            "added variant {} to app `{}`",
            e.variant,
            e.app
        )?;
    }
    writeln!(std::io::stdout().lock(), "{}", e.dir.display())?;
    Ok(0)
}

fn build(apps: &Apps, ctx: &Ctx, a: BuildArgs) -> anyhow::Result<i32> {
    let opts = crate::build::BuildOptions {
        jobs: ctx.settings.jobs,
        keep_failed: a.keep_failed,
        progress: ctx.progress(),
        remote_only: false,
    };
    let e = bridge::build(apps, &a.name, &ctx.settings, &opts)?;
    auto_sync(apps, ctx, true);
    report_export(&e)
}
