// The example project of the README: GNU hello, built from source.
//
//   cd examples/hello
//   magpkg shell -- hello        # Hello, world!
//   magpkg shell                 # an interactive shell with `hello` on PATH
//   magpkg run greet Bonjour     # a script of this manifest
local pkgs = import "magnet/packages.jsonnet";

{
  packages: [pkgs.hello],

  scripts: {
    greet: 'hello --greeting="${1:-Hi}, $(basename "$MAGPKG_PROJECT_ROOT")"',
  },

  shellHook: "echo \"magpkg: $(hello --version | head -n 1) is here; type exit to leave\"",
}
