//! `magpkg-hook SHELL`: the prompt hook's fast path, the same as
//! `magpkg hook-env SHELL`, in a binary of its own. It links only the hook's
//! code (no Jsonnet, HTTP, TLS or BitTorrent), so it starts about as fast as
//! an empty program: that start is most of what a prompt that must ask
//! magpkg costs. `magpkg hook` makes the shell call it when it is installed
//! beside `magpkg`, and `magpkg hook-env` otherwise.

//!
//! `magpkg-hook [--magpkg PATH] SHELL`: with the main binary's path, the
//! hook can start a background realisation (see `magpkg::hook::background`).

fn main() {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let mut magpkg = None;
    if args.len() >= 2 && args[0] == "--magpkg" {
        magpkg = Some(std::path::PathBuf::from(args.remove(1)));
        args.remove(0);
    }
    let shell = args.first().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    std::process::exit(magpkg::hook::run_hook_env(&shell, magpkg.as_deref()));
}
