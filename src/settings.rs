//! Settings, resolved once per process: command-line flags > `MAGPKG_*`
//! environment variables > the config file
//! (`$XDG_CONFIG_HOME/magpkg/config.jsonnet`) > defaults.
//!
//! Every environment variable magpkg reads is listed in [`VARS`], with its
//! documentation; `doc/settings.md` is checked against that table by a test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Classify;

/// One documented environment variable.
pub struct Var {
    pub name: &'static str,
    pub doc: &'static str,
}

macro_rules! vars {
    ($($konst:ident = $name:literal : $doc:literal;)*) => {
        $(#[doc = $doc] pub const $konst: &str = $name;)*
        /// Every `MAGPKG_*` variable magpkg reads, with its documentation.
        pub const VARS: &[Var] = &[$(Var { name: $name, doc: $doc }),*];
    };
}

vars! {
    MAGPKG_STORE = "MAGPKG_STORE": "Root of the store (packages, sources, environments, logs). Default: `$XDG_DATA_HOME/magpkg/store`.";
    MAGPKG_PACKAGES = "MAGPKG_PACKAGES": "A local package tree (a fork or vendored checkout of `packages/`) used for `import \"magnet/...\"` instead of the tree embedded in the binary.";
    MAGPKG_CONFIG = "MAGPKG_CONFIG": "Path of the config file. Default: `$XDG_CONFIG_HOME/magpkg/config.jsonnet`.";
    MAGPKG_JOBS = "MAGPKG_JOBS": "How many packages are built at once. Default: 1.";
    MAGPKG_BUILD_CORES = "MAGPKG_BUILD_CORES": "Parallelism given to each build (`MAKEFLAGS=-jN` in the sandbox). Default: number of CPUs.";
    MAGPKG_BUILD_TIMEOUT = "MAGPKG_BUILD_TIMEOUT": "Seconds one package's build script may run; a build running longer is killed with its whole sandbox. 0 means no limit. Default: 0.";
    MAGPKG_EVAL_TIMEOUT = "MAGPKG_EVAL_TIMEOUT": "Seconds one Jsonnet evaluation may run before magpkg stops it with an error. 0 means no limit. Default: 300.";
    MAGPKG_EVAL_MAX_MEMORY = "MAGPKG_EVAL_MAX_MEMORY": "Bytes of memory one Jsonnet evaluation may take before magpkg stops it with an error. 0 means no limit. Default: 4294967296 (4 GiB).";
    MAGPKG_EVAL_MAX_STACK = "MAGPKG_EVAL_MAX_STACK": "How many Jsonnet function calls may be nested in an evaluation before it fails. Default: 200.";
    MAGPKG_FETCH_JOBS = "MAGPKG_FETCH_JOBS": "How many sources are downloaded at once. Default: 4.";
    MAGPKG_MIRRORS = "MAGPKG_MIRRORS": "Extra mirror definitions, `NAME=URL[,URL...]` separated by `;`. Tried before the config file's `mirrors`.";
    MAGPKG_APT_SOURCES = "MAGPKG_APT_SOURCES": "Directory holding the apt sources read for the `debian` and `debian-security` mirrors when the config names none. Default: `/etc/apt`.";
    MAGPKG_DHT = "MAGPKG_DHT": "`1` to use the BitTorrent DHT to find peers, `0` to disable it. Default: 1.";
    MAGPKG_DHT_BOOTSTRAP = "MAGPKG_DHT_BOOTSTRAP": "DHT nodes (`HOST:PORT`, separated by spaces) a new DHT node asks first, instead of the public bootstrap nodes: a team's own seeders, or a private DHT. Replaces the config file's `dhtBootstrap`.";
    MAGPKG_DHT_PORT = "MAGPKG_DHT_PORT": "UDP port of this machine's DHT node (so other machines can bootstrap from it). Default: any free port.";
    MAGPKG_SWARM_WAIT = "MAGPKG_SWARM_WAIT": "Seconds a BitTorrent swarm has to deliver its first bytes before HTTP origins join the download (a swarm that is delivering keeps going alone until it stalls). Default: 3.";
    MAGPKG_STALL_TIMEOUT = "MAGPKG_STALL_TIMEOUT": "Seconds a download may make no progress before magpkg tries the next origin. Default: 30.";
    MAGPKG_MIN_RATE = "MAGPKG_MIN_RATE": "Bytes per second a download (HTTP or BitTorrent) must average over each stall timeout (`MAGPKG_STALL_TIMEOUT`) before magpkg gives it up and tries the next origin; 0 disables the check. Default: 1024.";
    MAGPKG_HTTP_TIMEOUT = "MAGPKG_HTTP_TIMEOUT": "Seconds to wait for an HTTP server to connect or answer. Default: 30.";
    MAGPKG_MAX_DOWNLOAD_SIZE = "MAGPKG_MAX_DOWNLOAD_SIZE": "Bytes one download may have: a server that announces more is not asked for the body, a body that grows beyond it is cut off and the next origin tried; a torrent's file larger than it is not downloaded. Default: 4294967296 (4 GiB).";
    MAGPKG_MAX_UNPACK_SIZE = "MAGPKG_MAX_UNPACK_SIZE": "Bytes of file contents one archive may unpack to (the `unpack` and `rootfs` builtins); beyond it the build stops as a compression bomb. Default: 34359738368 (32 GiB).";
    MAGPKG_MAX_UNPACK_RATIO = "MAGPKG_MAX_UNPACK_RATIO": "How many times its own size an archive may unpack to, once it has unpacked 64 MiB; 0 disables the check. Default: 100.";
    MAGPKG_RETRIES = "MAGPKG_RETRIES": "How many times a failing HTTP URL is retried (with backoff) before the next URL. Default: 2.";
    MAGPKG_OFFLINE = "MAGPKG_OFFLINE": "`1` to never use the network: sources must already be in the store.";
    MAGPKG_TRUST = "MAGPKG_TRUST": "`1` to let `magpkg shell` and `magpkg run` enter projects not allowed on this machine without asking (as `--trust`). `CI=true` does the same. Default: 0.";
    MAGPKG_APPS = "MAGPKG_APPS": "Root of the portable apps (`magpkg app`). Default: `$XDG_DATA_HOME/magpkg/apps`.";
    MAGPKG_BIN_DIR = "MAGPKG_BIN_DIR": "Where `add_to_path` launchers of apps are written. Default: `~/.local/bin`.";
    MAGPKG_APPLICATIONS_DIR = "MAGPKG_APPLICATIONS_DIR": "Where `add_to_apps` desktop entries are written. Default: `$XDG_DATA_HOME/applications`.";
    MAGPKG_GITHUB_API = "MAGPKG_GITHUB_API": "Base URL of the GitHub REST API that `magpkg app update` asks for the releases named by `gh-releases-zsync` update information. Default: `https://api.github.com`.";
    MAGPKG_STATE = "MAGPKG_STATE": "Directory of magpkg's per-user state (trusted projects, project states, signing keys under `keys/`, the apps root's fingerprint `apps-integration`). Default: `$XDG_STATE_HOME/magpkg`.";
    MAGPKG_LOG = "MAGPKG_LOG": "`debug` (or `trace`, `info`, `warn`) prints what magpkg decides and why on stderr: what is in the store, what is built, which origin a source comes from and why the others failed.";
    MAGPKG_SUBSTITUTERS = "MAGPKG_SUBSTITUTERS": "Binary caches asked for a package before it is built, in order, separated by spaces: `https://...`, `http://...`, `file:///DIR`, `s3://BUCKET/PREFIX`. Replaces the config file's `substituters`. Default: none.";
    MAGPKG_TRUSTED_KEYS = "MAGPKG_TRUSTED_KEYS": "Public keys (`NAME:BASE64`, separated by spaces) whose signatures make a binary cache's record acceptable. Replaces the config file's `trustedKeys`.";
    MAGPKG_SUBSTITUTE_QUORUM = "MAGPKG_SUBSTITUTE_QUORUM": "How many distinct trusted keys must have signed the same content digest of a package before a substitute is used. Default: 1.";
    MAGPKG_SIGNING_KEY = "MAGPKG_SIGNING_KEY": "The key `magpkg cache push` signs with: a name given to `magpkg key generate`, or the path of a secret key file.";
    MAGPKG_SUBSTITUTE = "MAGPKG_SUBSTITUTE": "`1` to take packages from the substituters when they have them (default), `0` to always build from source, `only` to never build (fail instead).";
    MAGPKG_BUILDERS = "MAGPKG_BUILDERS": "Remote builders, separated by spaces: `ssh://[USER@]HOST[:PORT]`, optionally followed by `?jobs=N` (builds at once there, default 1). Replaces the config file's `builders`; empty disables them.";
    MAGPKG_SSH_COMMAND = "MAGPKG_SSH_COMMAND": "The command (and options) run to reach remote builders, as git's `GIT_SSH_COMMAND`; run by `sh`, with the ssh arguments appended. Default: `ssh`.";
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read config file {path}")]
    Config {
        path: PathBuf,
        #[source]
        source: Box<crate::jsonnet::JsonnetError>,
    },
    #[error("config file {path}: `{key}` {problem}")]
    BadValue {
        path: PathBuf,
        key: String,
        problem: String,
    },
    #[error("config file {path}: unknown setting `{key}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownKey {
        path: PathBuf,
        key: String,
        suggestion: Option<String>,
    },
    #[error("environment variable {var}={value:?}: {problem}")]
    BadVar {
        var: &'static str,
        value: String,
        problem: String,
    },
    #[error("{flag} {value:?}: {problem}")]
    BadFlag {
        flag: &'static str,
        value: String,
        problem: String,
    },
    #[error("cannot find a home directory to put the store in")]
    NoHome,
}

impl Classify for SettingsError {
    fn is_user_error(&self) -> bool {
        !matches!(self, SettingsError::NoHome)
    }
    fn hint(&self) -> Option<String> {
        match self {
            SettingsError::NoHome => Some(format!("set {MAGPKG_STORE} to a writable directory")),
            SettingsError::BadValue { .. } | SettingsError::UnknownKey { .. } => {
                Some("the settings are documented in doc/settings.md".into())
            }
            _ => None,
        }
    }
}

/// Default of `maxDownloadSize`: 4 GiB.
pub const DEFAULT_MAX_DOWNLOAD_SIZE: u64 = 4 << 30;

/// The keys the config file may have.
pub const CONFIG_KEYS: &[&str] = &[
    "store",
    "packages",
    "mirrors",
    "jobs",
    "buildCores",
    "buildTimeout",
    "evalTimeout",
    "evalMaxMemory",
    "evalMaxStack",
    "fetchJobs",
    "dht",
    "dhtBootstrap",
    "dhtPort",
    "swarmWait",
    "trackers",
    "stallTimeout",
    "minRate",
    "httpTimeout",
    "maxDownloadSize",
    "maxUnpackSize",
    "maxUnpackRatio",
    "retries",
    "offline",
    "apps",
    "binDir",
    "applicationsDir",
    "githubApi",
    "seedPort",
    "substituters",
    "trustedKeys",
    "substituteQuorum",
    "signingKey",
    "substitute",
    "builders",
];

/// The config file, as read: every field optional, no other field allowed.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConfigFile {
    store: Option<String>,
    packages: Option<String>,
    mirrors: Option<BTreeMap<String, OneOrMany>>,
    jobs: Option<usize>,
    build_cores: Option<usize>,
    build_timeout: Option<u64>,
    eval_timeout: Option<u64>,
    eval_max_memory: Option<u64>,
    eval_max_stack: Option<usize>,
    fetch_jobs: Option<usize>,
    dht: Option<bool>,
    dht_bootstrap: Option<Vec<String>>,
    dht_port: Option<u16>,
    swarm_wait: Option<u64>,
    trackers: Option<Vec<String>>,
    stall_timeout: Option<u64>,
    min_rate: Option<u64>,
    http_timeout: Option<u64>,
    max_download_size: Option<u64>,
    max_unpack_size: Option<u64>,
    max_unpack_ratio: Option<u64>,
    retries: Option<u32>,
    offline: Option<bool>,
    apps: Option<String>,
    bin_dir: Option<String>,
    applications_dir: Option<String>,
    github_api: Option<String>,
    seed_port: Option<u16>,
    substituters: Option<Vec<String>>,
    trusted_keys: Option<Vec<String>>,
    substitute_quorum: Option<usize>,
    signing_key: Option<String>,
    substitute: Option<SubstituteField>,
    builders: Option<Vec<BuilderField>>,
}

/// One entry of `builders`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BuilderField {
    uri: String,
    jobs: Option<usize>,
    features: Option<Vec<String>>,
    program: Option<String>,
}

/// `substitute`: `true`, `false` or `"only"`.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum SubstituteField {
    Bool(bool),
    Word(String),
}

/// A mirror's URLs: one string or a list.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

impl SettingsError {
    fn from_mistake(path: &Path, m: crate::jsonnet::typed::Mistake) -> SettingsError {
        use crate::jsonnet::typed::MistakeKind;
        match &m.kind {
            MistakeKind::UnknownField { suggestion, .. } if !m.field.contains('.') => SettingsError::UnknownKey {
                path: path.to_path_buf(),
                key: m.field.clone(),
                suggestion: suggestion.clone(),
            },
            _ => SettingsError::BadValue {
                path: path.to_path_buf(),
                key: if m.field.is_empty() {
                    "(top level)".into()
                } else {
                    m.field.clone()
                },
                problem: match (&m.kind, &m.location) {
                    (MistakeKind::Invalid(msg), Some(loc)) => format!("{msg} (at {loc})"),
                    (MistakeKind::Invalid(msg), None) => msg.clone(),
                    (MistakeKind::UnknownField { .. }, _) => "is not a known field".into(),
                },
            },
        }
    }
}

/// Command-line flags that override everything else. `None` = not given.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub store: Option<PathBuf>,
    pub packages: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub jobs: Option<usize>,
    pub offline: bool,
    /// `--no-substitute` / `--substitute-only`.
    pub substitute: Option<Substitute>,
}

/// Everything magpkg needs to know about its surroundings, resolved once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Root of the store.
    pub store_dir: PathBuf,
    /// A local package tree replacing the embedded one.
    pub packages_dir: Option<PathBuf>,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// `mirror://NAME/...` → base URLs, in order of preference. The Debian
    /// mirrors from apt sources are resolved lazily by `fetch`, only when the
    /// config names none.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Where apt sources are read from (for `debian` / `debian-security`).
    pub apt_dir: PathBuf,
    pub jobs: usize,
    pub build_cores: usize,
    /// How long one build script may run (`None`: no limit).
    pub build_timeout: Option<Duration>,
    /// Time, memory and call depth of one Jsonnet evaluation.
    pub eval_limits: crate::jsonnet::limits::Limits,
    pub fetch_jobs: usize,
    pub dht: bool,
    /// DHT bootstrap nodes (`None`: librqbit's public ones).
    pub dht_bootstrap: Option<Vec<String>>,
    /// UDP port of the DHT node (`None`: any).
    pub dht_port: Option<u16>,
    /// How long a swarm has to deliver before HTTP joins.
    pub swarm_wait: Duration,
    pub trackers: Vec<String>,
    pub stall_timeout: Duration,
    /// Bytes per second a download must average over each stall timeout.
    pub min_rate: u64,
    pub http_timeout: Duration,
    /// Bytes one download may have.
    pub max_download_size: u64,
    /// Bytes of file contents one archive may unpack to.
    pub max_unpack_size: u64,
    /// Times its size an archive may unpack to (past a floor; 0: no check).
    pub max_unpack_ratio: u64,
    pub retries: u32,
    pub offline: bool,
    /// `MAGPKG_TRUST=1` or `CI=true`: `shell` and `run` enter projects not
    /// allowed on this machine without asking.
    pub trust_projects: bool,
    pub seed_port: Option<u16>,
    pub apps_dir: PathBuf,
    pub bin_dir: PathBuf,
    pub applications_dir: PathBuf,
    /// Base URL of the GitHub REST API (`gh-releases-zsync` app updates).
    pub github_api: String,
    pub state_dir: PathBuf,
    pub home_dir: PathBuf,
    /// `SOURCE_DATE_EPOCH`, the date OCI images and exports carry.
    pub source_date_epoch: Option<u64>,
    /// The raw config file value, for front ends with settings of their own.
    pub config: serde_json::Value,
    /// Binary caches: where to look, whom to believe, how to sign.
    pub cache: CacheSettings,
    /// Remote builders (`doc/remote-builds.md`).
    pub builders: Vec<BuilderSpec>,
    /// The ssh command builders are reached with (`sh -c` syntax).
    pub ssh_command: String,
}

/// One remote builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderSpec {
    /// `ssh://[USER@]HOST[:PORT]`, as given (without a `?jobs=` query).
    pub uri: String,
    /// Builds it runs at once.
    pub jobs: usize,
    /// What it offers (`kvm`, `big-parallel`, ...): recorded and shown; no
    /// package asks for a feature yet.
    pub features: Vec<String>,
    /// The remote command that runs magpkg (`magpkg` on the remote PATH,
    /// or e.g. `env MAGPKG_STORE=/srv/store /opt/magpkg/bin/magpkg`).
    pub program: String,
}

impl BuilderSpec {
    /// Parse `ssh://[USER@]HOST[:PORT][?jobs=N]`.
    pub fn parse(text: &str) -> Result<BuilderSpec, String> {
        let (uri, query) = match text.split_once('?') {
            Some((u, q)) => (u, Some(q)),
            None => (text, None),
        };
        let mut spec = BuilderSpec {
            uri: uri.to_string(),
            jobs: 1,
            features: Vec::new(),
            program: "magpkg".into(),
        };
        let rest = uri
            .strip_prefix("ssh://")
            .ok_or_else(|| format!("`{text}` is not an ssh://[USER@]HOST[:PORT] URI"))?;
        let bad = || format!("`{text}` is not an ssh://[USER@]HOST[:PORT] URI");
        let hostport = match rest.rsplit_once('@') {
            Some((user, h)) if !user.is_empty() => h,
            Some(_) => return Err(bad()),
            None => rest,
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (addr, None),
                p => (addr, Some(p.strip_prefix(':').ok_or_else(bad)?)),
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.contains(['/', ' ']) {
            return Err(bad());
        }
        if let Some(p) = port {
            p.parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| format!("`{text}`: `{p}` is not a port"))?;
        }
        for kv in query.into_iter().flat_map(|q| q.split('&')).filter(|s| !s.is_empty()) {
            match kv.split_once('=') {
                Some(("jobs", n)) => {
                    spec.jobs = n
                        .parse()
                        .ok()
                        .filter(|&n: &usize| n > 0)
                        .ok_or_else(|| format!("`{text}`: jobs must be a number of at least 1"))?;
                }
                _ => return Err(format!("`{text}`: unknown option `{kv}` (only `jobs=N`)")),
            }
        }
        Ok(spec)
    }

    /// (`[USER@]HOST`, port) for the ssh command line.
    pub fn destination(&self) -> (String, Option<String>) {
        let rest = self.uri.strip_prefix("ssh://").unwrap_or(&self.uri);
        let (user, host) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (host, port) = match host.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && (!h.contains(':') || h.ends_with(']')) => {
                (h, Some(p.to_string()))
            }
            _ => (host, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (
            match user {
                Some(u) => format!("{u}@{host}"),
                None => host.to_string(),
            },
            port,
        )
    }
}

/// `MAGPKG_BUILDERS` / `--builders`: URIs separated by spaces.
pub fn parse_builders(text: &str) -> Result<Vec<BuilderSpec>, String> {
    text.split_whitespace().map(BuilderSpec::parse).collect()
}

/// The level of the debug channel `MAGPKG_LOG` asks for, `None` when it is
/// unset (or an unknown word: a log switch must never stop a command).
pub fn log_level() -> Option<tracing::Level> {
    env_var(MAGPKG_LOG)?.parse().ok()
}

/// The per-user state dir, from the environment only: the config file has
/// no say over it, so the prompt hook can find trust records and project
/// states without evaluating Jsonnet. [`Settings::resolve`] uses it too.
pub fn state_dir() -> Option<PathBuf> {
    let dir = match env_var(MAGPKG_STATE) {
        Some(v) => PathBuf::from(v),
        None => {
            let dirs = directories::BaseDirs::new()?;
            dirs.state_dir()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dirs.home_dir().join(".local/state"))
                .join("magpkg")
        }
    };
    std::path::absolute(&dir).ok()
}

/// The latest `SOURCE_DATE_EPOCH` accepted: 9999-12-31T23:59:59Z, the last
/// date an RFC 3339 timestamp (and so every OCI tool) can write.
pub const MAX_SOURCE_DATE_EPOCH: u64 = 253_402_300_799;

/// `SOURCE_DATE_EPOCH` (the reproducible-builds variable), checked.
fn source_date_epoch() -> Result<Option<u64>, SettingsError> {
    const VAR: &str = "SOURCE_DATE_EPOCH";
    let Some(v) = env_var(VAR) else { return Ok(None) };
    let bad = |problem: String| SettingsError::BadVar {
        var: VAR,
        value: v.clone(),
        problem,
    };
    let secs: u64 = v
        .trim()
        .parse()
        .map_err(|_| bad("not a number of seconds since 1970".into()))?;
    if secs > MAX_SOURCE_DATE_EPOCH {
        return Err(bad(format!("later than year 9999 (at most {MAX_SOURCE_DATE_EPOCH})")));
    }
    Ok(Some(secs))
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn parse_env<T: std::str::FromStr>(var: &'static str) -> Result<Option<T>, SettingsError> {
    match env_var(var) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| SettingsError::BadVar {
            var,
            value: v,
            problem: "not a valid number".into(),
        }),
    }
}

fn parse_bool_env(var: &'static str) -> Result<Option<bool>, SettingsError> {
    match env_var(var).as_deref() {
        None => Ok(None),
        Some("1" | "true" | "yes" | "on") => Ok(Some(true)),
        Some("0" | "false" | "no" | "off") => Ok(Some(false)),
        Some(v) => Err(SettingsError::BadVar {
            var,
            value: v.into(),
            problem: "expected 1 or 0".into(),
        }),
    }
}

/// Parse `NAME=URL[,URL...];NAME2=...`.
pub fn parse_mirror_var(value: &str) -> Result<BTreeMap<String, Vec<String>>, SettingsError> {
    let mut out = BTreeMap::new();
    for item in value.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, urls) = item.split_once('=').ok_or_else(|| SettingsError::BadVar {
            var: MAGPKG_MIRRORS,
            value: value.into(),
            problem: format!("`{item}` is not NAME=URL[,URL...]"),
        })?;
        let urls: Vec<String> = urls
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
        out.insert(name.trim().to_string(), urls);
    }
    Ok(out)
}

impl Settings {
    /// Resolve settings from flags, the process environment, the config file
    /// and defaults.
    pub fn resolve(flags: &Overrides) -> Result<Settings, SettingsError> {
        let dirs = directories::BaseDirs::new().ok_or(SettingsError::NoHome)?;

        let (config_path, config_file, config, mut file) = read_config_file(flags, &dirs)?;
        let places = Places::resolve(flags, &file, &config_path, &dirs);
        let mirrors = resolve_mirrors(file.mirrors.take())?;

        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let jobs = flags.jobs.or(parse_env(MAGPKG_JOBS)?).or(file.jobs).unwrap_or(1).max(1);
        let build_cores = parse_env(MAGPKG_BUILD_CORES)?
            .or(file.build_cores)
            .unwrap_or(cpus)
            .max(1);
        let build_timeout = parse_env(MAGPKG_BUILD_TIMEOUT)?
            .or(file.build_timeout)
            .filter(|&s: &u64| s > 0)
            .map(Duration::from_secs);
        let eval_limits = resolve_eval_limits(&file)?;
        let fetch_jobs = parse_env(MAGPKG_FETCH_JOBS)?.or(file.fetch_jobs).unwrap_or(4).max(1);
        let dht = parse_bool_env(MAGPKG_DHT)?.or(file.dht).unwrap_or(true);
        let dht_bootstrap = env_var(MAGPKG_DHT_BOOTSTRAP)
            .map(|v| v.split_whitespace().map(String::from).collect())
            .or(file.dht_bootstrap);
        let dht_port = parse_env(MAGPKG_DHT_PORT)?.or(file.dht_port);
        let swarm_wait = Duration::from_secs(parse_env(MAGPKG_SWARM_WAIT)?.or(file.swarm_wait).unwrap_or(3));
        let trackers = file.trackers.unwrap_or_default();
        let stall_timeout = Duration::from_secs(parse_env(MAGPKG_STALL_TIMEOUT)?.or(file.stall_timeout).unwrap_or(30));
        let min_rate = parse_env(MAGPKG_MIN_RATE)?.or(file.min_rate).unwrap_or(1024);
        let http_timeout = Duration::from_secs(parse_env(MAGPKG_HTTP_TIMEOUT)?.or(file.http_timeout).unwrap_or(30));
        let max_download_size = parse_env(MAGPKG_MAX_DOWNLOAD_SIZE)?
            .or(file.max_download_size)
            .unwrap_or(DEFAULT_MAX_DOWNLOAD_SIZE);
        let max_unpack_size = parse_env(MAGPKG_MAX_UNPACK_SIZE)?
            .or(file.max_unpack_size)
            .unwrap_or(32 << 30);
        let max_unpack_ratio = parse_env(MAGPKG_MAX_UNPACK_RATIO)?
            .or(file.max_unpack_ratio)
            .unwrap_or(100);
        let retries = parse_env(MAGPKG_RETRIES)?.or(file.retries).unwrap_or(2);
        let offline = flags.offline || parse_bool_env(MAGPKG_OFFLINE)?.or(file.offline).unwrap_or(false);
        let trust_projects =
            parse_bool_env(MAGPKG_TRUST)?.unwrap_or(false) || matches!(env_var("CI").as_deref(), Some("true" | "1"));
        let seed_port = file.seed_port;
        let github_api = env_var(MAGPKG_GITHUB_API)
            .or(file.github_api.take())
            .unwrap_or_else(|| "https://api.github.com".into());
        let source_date_epoch = source_date_epoch()?;
        let mut cache = CacheSettings::resolve(
            CacheFields {
                substituters: file.substituters,
                trusted_keys: file.trusted_keys,
                substitute_quorum: file.substitute_quorum,
                signing_key: file.signing_key,
                substitute: file.substitute,
            },
            &config_path,
        )?;
        if let Some(mode) = flags.substitute {
            cache.substitute = mode;
        }
        // `--builders` (a flag of `magpkg build`) replaces these later.
        let builders = resolve_builders(file.builders.take(), &config_path)?;
        let ssh_command = env_var(MAGPKG_SSH_COMMAND).unwrap_or_else(|| "ssh".into());
        let apt_dir = env_var(MAGPKG_APT_SOURCES)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/etc/apt"));

        Ok(Settings {
            store_dir: absolute(places.store),
            packages_dir: places.packages.map(absolute),
            config_file,
            mirrors,
            apt_dir,
            jobs,
            build_cores,
            build_timeout,
            eval_limits,
            fetch_jobs,
            dht,
            dht_bootstrap,
            dht_port,
            swarm_wait,
            trackers,
            stall_timeout,
            min_rate,
            http_timeout,
            max_download_size,
            max_unpack_size,
            max_unpack_ratio,
            retries,
            offline,
            trust_projects,
            seed_port,
            apps_dir: absolute(places.apps),
            bin_dir: absolute(places.bin),
            applications_dir: absolute(places.applications),
            github_api,
            state_dir: absolute(places.state),
            home_dir: dirs.home_dir().to_path_buf(),
            source_date_epoch,
            cache,
            config,
            builders,
            ssh_command,
        })
    }
}

/// The config file: its path (flag > `MAGPKG_CONFIG` > the XDG default), the
/// path when it exists, its evaluated value and its typed fields. A file
/// named explicitly must exist; the default one may be absent.
fn read_config_file(
    flags: &Overrides,
    dirs: &directories::BaseDirs,
) -> Result<(PathBuf, Option<PathBuf>, serde_json::Value, ConfigFile), SettingsError> {
    let config_path = flags
        .config
        .clone()
        .or_else(|| env_var(MAGPKG_CONFIG).map(PathBuf::from))
        .unwrap_or_else(|| dirs.config_dir().join("magpkg/config.jsonnet"));
    let explicit_config = flags.config.is_some() || env_var(MAGPKG_CONFIG).is_some();
    let (config, config_file) = if config_path.exists() {
        let v = crate::jsonnet::evaluate_plain_file(&config_path).map_err(|e| SettingsError::Config {
            path: config_path.clone(),
            source: Box::new(e),
        })?;
        (v, Some(config_path.clone()))
    } else if explicit_config {
        return Err(SettingsError::BadValue {
            path: config_path.clone(),
            key: "(file)".into(),
            problem: "does not exist".into(),
        });
    } else {
        (serde_json::Value::Object(Default::default()), None)
    };
    let file: ConfigFile = crate::jsonnet::typed::read(&config, &crate::jsonnet::typed::file_at(&config_path))
        .map_err(|m| SettingsError::from_mistake(&config_path, m))?;
    Ok((config_path, config_file, config, file))
}

/// `mirrors` of the config file, with `MAGPKG_MIRRORS`' URLs of a mirror
/// tried before the file's.
/// The directories magpkg keeps things in: flag > variable > config file
/// (a relative path there is relative to the file) > default.
struct Places {
    store: PathBuf,
    packages: Option<PathBuf>,
    apps: PathBuf,
    bin: PathBuf,
    applications: PathBuf,
    state: PathBuf,
}

impl Places {
    fn resolve(flags: &Overrides, file: &ConfigFile, config_path: &Path, dirs: &directories::BaseDirs) -> Places {
        let home_dir = dirs.home_dir();
        let data_dir = dirs.data_dir().join("magpkg");
        let cfg_dir = config_path.parent().map(Path::to_path_buf).unwrap_or_default();
        let cfg_path = |v: &Option<String>| v.as_deref().map(|s| cfg_dir.join(expand_home(s, home_dir)));
        let state_base = dirs
            .state_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home_dir.join(".local/state"));
        Places {
            store: flags
                .store
                .clone()
                .or_else(|| env_var(MAGPKG_STORE).map(PathBuf::from))
                .or_else(|| cfg_path(&file.store))
                .unwrap_or_else(|| data_dir.join("store")),
            packages: flags
                .packages
                .clone()
                .or_else(|| env_var(MAGPKG_PACKAGES).map(PathBuf::from))
                .or_else(|| cfg_path(&file.packages)),
            apps: env_var(MAGPKG_APPS)
                .map(PathBuf::from)
                .or_else(|| cfg_path(&file.apps))
                .unwrap_or_else(|| data_dir.join("apps")),
            bin: env_var(MAGPKG_BIN_DIR)
                .map(PathBuf::from)
                .or_else(|| cfg_path(&file.bin_dir))
                .unwrap_or_else(|| home_dir.join(".local/bin")),
            applications: env_var(MAGPKG_APPLICATIONS_DIR)
                .map(PathBuf::from)
                .or_else(|| cfg_path(&file.applications_dir))
                .unwrap_or_else(|| dirs.data_dir().join("applications")),
            state: state_dir().unwrap_or_else(|| state_base.join("magpkg")),
        }
    }
}

/// The evaluator's limits: variable > config file > default; 0 turns the
/// time and memory limits off.
fn resolve_eval_limits(file: &ConfigFile) -> Result<crate::jsonnet::limits::Limits, SettingsError> {
    let default = crate::jsonnet::limits::DEFAULT;
    Ok(crate::jsonnet::limits::Limits {
        timeout: match parse_env(MAGPKG_EVAL_TIMEOUT)?.or(file.eval_timeout) {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => default.timeout,
        },
        max_memory: match parse_env(MAGPKG_EVAL_MAX_MEMORY)?.or(file.eval_max_memory) {
            Some(0) => None,
            Some(b) => Some(b),
            None => default.max_memory,
        },
        max_stack: parse_env(MAGPKG_EVAL_MAX_STACK)?
            .or(file.eval_max_stack)
            .unwrap_or(default.max_stack)
            .max(1),
    })
}

fn resolve_mirrors(
    from_file: Option<BTreeMap<String, OneOrMany>>,
) -> Result<BTreeMap<String, Vec<String>>, SettingsError> {
    let mut mirrors: BTreeMap<String, Vec<String>> = from_file
        .into_iter()
        .flatten()
        .map(|(name, urls)| (name, urls.into_vec()))
        .collect();
    if let Some(v) = env_var(MAGPKG_MIRRORS) {
        for (name, mut urls) in parse_mirror_var(&v)? {
            let entry = mirrors.entry(name).or_default();
            urls.append(entry);
            *entry = urls;
        }
    }
    Ok(mirrors)
}

/// Remote builders: `MAGPKG_BUILDERS` replaces the config file's `builders`
/// (and `--builders`, a flag of `magpkg build`, replaces both later).
fn resolve_builders(
    from_file: Option<Vec<BuilderField>>,
    config_path: &Path,
) -> Result<Vec<BuilderSpec>, SettingsError> {
    Ok(match std::env::var(MAGPKG_BUILDERS).ok() {
        Some(text) => parse_builders(&text).map_err(|problem| SettingsError::BadVar {
            var: MAGPKG_BUILDERS,
            value: text.clone(),
            problem,
        })?,
        None => {
            let mut out = Vec::new();
            for (i, b) in from_file.into_iter().flatten().enumerate() {
                let bad = |problem: String| SettingsError::BadValue {
                    path: config_path.to_path_buf(),
                    key: format!("builders[{i}]"),
                    problem,
                };
                let mut spec = BuilderSpec::parse(&b.uri).map_err(bad)?;
                if let Some(j) = b.jobs {
                    if j == 0 {
                        return Err(bad("`jobs` must be at least 1".into()));
                    }
                    spec.jobs = j;
                }
                spec.features = b.features.unwrap_or_default();
                if let Some(p) = b.program {
                    spec.program = p;
                }
                out.push(spec);
            }
            out
        }
    })
}

// ------------------------------------------------------------- binary caches

/// Whether builds take packages from substituters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Substitute {
    #[default]
    Auto,
    /// Always build from source.
    Never,
    /// Never build: what no substituter has is an error.
    Only,
}

/// The settings of binary caches (`doc/binary-cache.md`).
#[derive(Debug, Clone, Default)]
pub struct CacheSettings {
    /// Cache URLs, asked in this order.
    pub substituters: Vec<String>,
    /// `NAME:BASE64` public keys.
    pub trusted_keys: Vec<String>,
    /// Distinct trusted keys that must agree on a package's digest.
    pub quorum: usize,
    /// Key name or secret key file `magpkg cache push` signs with.
    pub signing_key: Option<String>,
    pub substitute: Substitute,
}

/// The config file's binary-cache fields, taken out of [`ConfigFile`].
struct CacheFields {
    substituters: Option<Vec<String>>,
    trusted_keys: Option<Vec<String>>,
    substitute_quorum: Option<usize>,
    signing_key: Option<String>,
    substitute: Option<SubstituteField>,
}

impl CacheSettings {
    fn resolve(file: CacheFields, cpath: &Path) -> Result<CacheSettings, SettingsError> {
        let bad = |key: &str, problem: &str| SettingsError::BadValue {
            path: cpath.to_path_buf(),
            key: key.into(),
            problem: problem.into(),
        };
        let words = |var: &'static str| env_var(var).map(|v| v.split_whitespace().map(str::to_string).collect());
        let substituters = words(MAGPKG_SUBSTITUTERS).or(file.substituters).unwrap_or_default();
        let trusted_keys = words(MAGPKG_TRUSTED_KEYS).or(file.trusted_keys).unwrap_or_default();
        let quorum = match parse_env::<usize>(MAGPKG_SUBSTITUTE_QUORUM)? {
            Some(0) => {
                return Err(SettingsError::BadVar {
                    var: MAGPKG_SUBSTITUTE_QUORUM,
                    value: "0".into(),
                    problem: "must be at least 1".into(),
                })
            }
            Some(n) => n,
            None => file.substitute_quorum.unwrap_or(1),
        };
        if quorum == 0 {
            return Err(bad("substituteQuorum", "must be at least 1"));
        }
        let signing_key = env_var(MAGPKG_SIGNING_KEY).or(file.signing_key);
        let substitute = match env_var(MAGPKG_SUBSTITUTE).as_deref() {
            Some("1" | "true" | "yes" | "on") => Substitute::Auto,
            Some("0" | "false" | "no" | "off") => Substitute::Never,
            Some("only") => Substitute::Only,
            Some(v) => {
                return Err(SettingsError::BadVar {
                    var: MAGPKG_SUBSTITUTE,
                    value: v.into(),
                    problem: "expected 1, 0 or only".into(),
                })
            }
            None => match file.substitute {
                None | Some(SubstituteField::Bool(true)) => Substitute::Auto,
                Some(SubstituteField::Bool(false)) => Substitute::Never,
                Some(SubstituteField::Word(w)) if w == "only" => Substitute::Only,
                Some(_) => return Err(bad("substitute", "must be true, false or \"only\"")),
            },
        };
        Ok(CacheSettings {
            substituters,
            trusted_keys,
            quorum,
            signing_key,
            substitute,
        })
    }
}

fn expand_home(s: &str, home: &Path) -> PathBuf {
    match s.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(s),
    }
}

fn absolute(p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_var_parses_several_mirrors() {
        let m = parse_mirror_var("debian=http://127.0.0.1:1/a, http://127.0.0.1:2/b ; gnu=http://x/").unwrap();
        assert_eq!(m["debian"], vec!["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"]);
        assert_eq!(m["gnu"], vec!["http://x/"]);
        assert!(parse_mirror_var("nonsense").is_err());
    }

    #[test]
    fn builder_uris_parse_with_user_port_and_jobs() {
        let b = BuilderSpec::parse("ssh://alice@build1.lan:2222?jobs=4").unwrap();
        assert_eq!(b.uri, "ssh://alice@build1.lan:2222");
        assert_eq!(b.jobs, 4);
        assert_eq!(b.program, "magpkg");
        assert_eq!(
            b.destination(),
            ("alice@build1.lan".to_string(), Some("2222".to_string()))
        );
        let b = BuilderSpec::parse("ssh://host").unwrap();
        assert_eq!((b.jobs, b.destination()), (1, ("host".to_string(), None)));
        let b = BuilderSpec::parse("ssh://bob@[::1]:22").unwrap();
        assert_eq!(b.destination(), ("bob@::1".to_string(), Some("22".to_string())));
        for bad in [
            "host",
            "http://host",
            "ssh://",
            "ssh://user@",
            "ssh://h:0",
            "ssh://h:x",
            "ssh://h?jobs=0",
            "ssh://h?cores=2",
            "ssh://h/path",
        ] {
            assert!(BuilderSpec::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(parse_builders(" ssh://a  ssh://b?jobs=2 ").unwrap().len(), 2);
        assert!(parse_builders("").unwrap().is_empty());
    }

    #[test]
    fn config_keys_are_the_config_file_fields() {
        let e = crate::jsonnet::typed::read::<ConfigFile>(&serde_json::json!({ "x-unknown": 1 }), &[]).unwrap_err();
        let crate::jsonnet::typed::MistakeKind::UnknownField { known, .. } = e.kind else {
            panic!("{e}")
        };
        assert_eq!(known, CONFIG_KEYS);
    }

    #[test]
    fn out_of_range_config_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("config.jsonnet");
        std::fs::write(&f, "{\n  seedPort: 70000,\n}\n").unwrap();
        let v = crate::jsonnet::evaluate_plain_file(&f).unwrap();
        let err = crate::jsonnet::typed::read::<ConfigFile>(&v, &crate::jsonnet::typed::file_at(&f))
            .map_err(|m| SettingsError::from_mistake(&f, m))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("`seedPort` must not be integer `70000`, expected an integer from 0 to 65535"),
            "{msg}"
        );
        assert!(msg.contains("config.jsonnet:2:3"), "{msg}");
    }

    /// The variables table of doc/settings.md, as the code documents them.
    fn vars_table() -> String {
        let mut t = String::from("| variable | meaning |\n|---|---|\n");
        for v in VARS {
            t.push_str(&format!("| `{}` | {} |\n", v.name, v.doc));
        }
        t
    }

    #[test]
    fn doc_settings_variables_table_is_the_code_word_for_word() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/settings.md")).unwrap();
        let table = vars_table();
        assert!(
            doc.contains(&table),
            "the variables table of doc/settings.md differs from settings::VARS; replace it with:\n{table}"
        );
    }

    #[test]
    fn every_var_is_documented_in_doc_settings() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/doc/settings.md")).unwrap();
        for v in VARS {
            assert!(doc.contains(v.name), "doc/settings.md does not mention {}", v.name);
        }
        for k in CONFIG_KEYS {
            assert!(
                doc.contains(&format!("`{k}`")),
                "doc/settings.md does not mention config key {k}"
            );
        }
    }
}
