fn main() {
    std::process::exit(magpkg::cli::main());
}
