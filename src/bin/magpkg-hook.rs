//! `magpkg-hook SHELL`: the prompt hook's fast path, the same as
//! `magpkg hook-env SHELL`, in a binary of its own. It links only the hook's
//! code (no Jsonnet, HTTP, TLS or BitTorrent), so it starts about as fast as
//! an empty program: that start is most of what a prompt that must ask
//! magpkg costs. `magpkg hook` makes the shell call it when it is installed
//! beside `magpkg`, and `magpkg hook-env` otherwise.

fn main() {
    let shell = std::env::args().nth(1).unwrap_or_default();
    std::process::exit(magpkg::hook::run_hook_env(&shell));
}
