//! `magpkg oci`: a package or project environment as an OCI image.

use std::path::{Path, PathBuf};

use super::Ctx;
use crate::eval;
use crate::oci::{self, Closure, ImageOptions, Target};

/// What to export: `-e EXPR | -f FILE | ATTR | --env [DIR]`.
#[derive(Debug, Clone, clap::Args)]
#[group(id = "what", required = true, multiple = false)]
pub struct What {
    /// A Jsonnet expression, e.g. '(import "magnet/packages.jsonnet").hello'
    #[arg(short = 'e', long = "expr", value_name = "EXPR")]
    pub expr: Option<String>,
    /// A Jsonnet file evaluating to a package, a list or an object of packages
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// A package name in the tree (magnet/packages.jsonnet), or a Jsonnet
    /// expression such as '(import "packages/core.jsonnet").coreutils'
    #[arg(value_name = "ATTR")]
    pub attr: Option<String>,
    /// The environment of the project at DIR (the nearest magnet.jsonnet at
    /// or above it; default: the current directory)
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = ".")]
    pub env: Option<PathBuf>,
}

/// Write an image of the runtime closure of packages or of a project
/// environment, building what is missing. See doc/oci.md.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub what: What,
    /// Write one tar that `docker load`, `podman load` and skopeo
    /// (`oci-archive:` and `docker-archive:`) all read
    #[arg(short = 'o', long, value_name = "FILE", required_unless_present_any = ["layout", "push"])]
    pub output: Option<PathBuf>,
    /// Write an OCI image layout directory (or add the image to an existing one)
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub layout: Option<PathBuf>,
    /// Image name and tag [default: the package or project name, and the
    /// first 12 characters of the environment or package id]
    #[arg(long, value_name = "NAME:TAG")]
    pub tag: Option<String>,
    /// Most layers in the image; beyond it packages share layers
    #[arg(long, value_name = "N", default_value_t = oci::MAX_LAYERS as u64,
          value_parser = clap::value_parser!(u64).range(2..=125))]
    pub max_layers: u64,
    /// Push the image, and its SBOMs as referrers, to a registry
    /// (REGISTRY[:PORT]/NAME[:TAG]); credentials from the docker/podman
    /// auth files
    #[arg(long, value_name = "REGISTRY/NAME:TAG")]
    pub push: Option<String>,
    /// Put the layers on a base image: oci:DIR[:TAG], oci-archive:FILE[:TAG],
    /// docker-archive:FILE, an archive file, or REGISTRY/NAME:TAG
    #[arg(long, value_name = "IMAGE")]
    pub from: Option<String>,
    /// Speak plain HTTP to the registry (always done for loopback addresses)
    #[arg(long, requires = "push")]
    pub plain_http: bool,
}

pub fn run(args: Args, ctx: &Ctx) -> anyhow::Result<i32> {
    // A bad tag should not cost an evaluation and a build to find out.
    let tag = args.tag.as_deref().map(oci::parse_tag).transpose()?;
    let remote = args
        .push
        .as_deref()
        .map(|r| oci::registry::Remote::parse(r, args.plain_http))
        .transpose()?;
    // Without a tag, a pushed image is named by the reference's tag.
    let tag = tag.or_else(|| remote.as_ref().map(|r| r.reference.whole()));
    let created = oci::config::created(ctx.settings.source_date_epoch);
    let closure = resolve(&args.what, ctx)?;
    let mut opts = ImageOptions::new(Target::Layout(PathBuf::new()));
    opts.tag = tag;
    opts.max_layers = args.max_layers as usize;
    opts.created = created;
    opts.threads = ctx.settings.build_cores;
    opts.base = args.from.clone();
    let mut targets = Vec::new();
    if let Some(o) = &args.output {
        targets.push(Target::Archive(o.clone()));
    }
    if let Some(l) = &args.layout {
        targets.push(Target::Layout(l.clone()));
    }
    // A push goes from a layout: the one asked for, or one staged in the
    // store's scratch space (not /tmp, which may be a small tmpfs).
    let mut _stage = None;
    if let (Some(_), None) = (&remote, &args.layout) {
        let store = crate::store::Store::open(&ctx.settings.store_dir)?;
        let dir = store.tempdir("oci-push-")?;
        targets.push(Target::Layout(dir.path().join("layout")));
        _stage = Some(dir);
    }
    let mut last = None;
    for target in targets {
        opts.target = target.clone();
        let report = oci::export_image(&closure, &opts)?;
        if !matches!((&target, &_stage), (Target::Layout(_), Some(_)) if args.layout.is_none()) {
            print_written(&target, &report, &closure, ctx);
        }
        last = Some((target, report));
    }
    let (target, report) = last.expect("one target at least");
    if let (Some(remote), Target::Layout(dir)) = (&remote, &target) {
        let layout = oci::layout::Layout::open(dir)?;
        let pushed = oci::registry::push(&layout, &report.manifest, &report.referrers, remote)?;
        if !ctx.global.quiet {
            eprintln!(
                "pushed {} ({} blobs sent, {} already there; SBOMs as referrers)",
                pushed.reference, pushed.sent, pushed.reused
            );
        }
        println!("{} sha256:{}", pushed.reference, pushed.digest);
    }
    Ok(0)
}

/// The "wrote ..." line (stderr) and `NAME:TAG sha256:DIGEST` (stdout).
fn print_written(target: &Target, report: &oci::ImageReport, closure: &Closure, ctx: &Ctx) {
    let where_ = match target {
        Target::Archive(p) | Target::Layout(p) => p.display().to_string(),
    };
    if !ctx.global.quiet {
        let size: u64 = report.layers.iter().map(|l| l.blob.size).sum();
        eprintln!(
            "wrote {where_}: {} ({} packages in {} layers, {:.1} MB compressed)",
            report.tag,
            closure.packages.len(),
            report.layers.len(),
            size as f64 / 1e6
        );
    }
    println!("{} sha256:{}", report.tag, report.manifest.digest);
}

/// Evaluate what was asked for, build what the store lacks, and collect
/// the runtime closure.
pub fn resolve(what: &What, ctx: &Ctx) -> anyhow::Result<Closure> {
    let store = crate::store::Store::open(&ctx.settings.store_dir)?;
    if let Some(dir) = &what.env {
        return env_closure(dir, ctx, &store);
    }
    let input = super::input_of(&what.expr, &what.file, &what.attr);
    let graph = eval::evaluate(&input, ctx.settings.packages_dir.as_deref())?;
    // An environment may be empty (an empty image); an input must name
    // something.
    if graph.roots.is_empty() {
        return Err(oci::OciError::Empty.into());
    }
    ensure_built(&graph, ctx, &store)?;
    Ok(Closure::from_graph(&graph, &store)?)
}

/// Build the graph's roots if anything is missing. Nothing is started (no
/// planner output, no fetch) when everything is already in the store.
fn ensure_built(graph: &crate::model::Graph, ctx: &Ctx, store: &crate::store::Store) -> anyhow::Result<()> {
    if crate::plan::plan(graph, store, None)?.is_empty() {
        return Ok(());
    }
    let opts = crate::build::BuildOptions {
        jobs: ctx.settings.jobs,
        keep_failed: false,
        progress: ctx.progress(),
        remote_only: false,
    };
    crate::build::build(graph, None, store, &ctx.settings, &opts)?;
    Ok(())
}

/// The closure of a project environment: the manifest's `packages`, its
/// `env`, its `path` directories and its `oci` settings.
//
// The project, manifest and environment id belong to `crate::env`; this is
// the thin bridge to it (find the manifest, evaluate it, read three fields).
fn env_closure(dir: &Path, ctx: &Ctx, store: &crate::store::Store) -> anyhow::Result<Closure> {
    let start = std::fs::canonicalize(dir)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot open directory {}", dir.display())))?;
    // The same project lookup, manifest checks and environment id as
    // `magpkg shell` and `magpkg env --id`: the image is named by that id.
    let project = crate::env::project::find_project(&start)?;
    let resolved = crate::env::resolve(&project, &ctx.settings)?;
    let graph = &resolved.graph;
    ensure_built(graph, ctx, store)?;
    let mut closure = Closure::from_graph(graph, store)?;
    // Without a `name`, the image is named by its root packages (as when
    // they are exported on their own) and only its default tag by the
    // directory: a checkout's directory name must not change the digest.
    match &resolved.manifest.name {
        Some(n) => closure.name = n.clone(),
        None => closure.tag_name = Some(project.dir_name()),
    }
    let origin = format!("manifest {}", project.manifest.display());
    closure.oci = oci::OciSettings::parse(
        resolved.manifest.oci.as_ref().unwrap_or(&serde_json::Value::Null),
        &origin,
    )?;
    // The project directory does not exist in the image: a variable that
    // names it points at the working directory instead.
    let image_root = closure.oci.workdir.clone().unwrap_or_else(|| "/".into());
    for (k, v) in &resolved.manifest.env {
        closure.env.push((
            k.clone(),
            v.replace("${MAGPKG_PROJECT_ROOT}", &image_root)
                .replace("$MAGPKG_PROJECT_ROOT", &image_root),
        ));
    }
    closure.add_project_paths(&project.manifest, &project.root, &resolved.manifest.path)?;
    let copies = closure.oci.copy.clone();
    closure.add_project_copies(&project.manifest, &project.root, &copies)?;
    closure.env_id = Some(resolved.env_id().to_string());
    Ok(closure)
}
