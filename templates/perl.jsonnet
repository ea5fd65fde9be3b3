// A Perl project's environment: `magpkg shell` enters it with perl 5.36 and
// its core modules from the tree; the project's modules (lib/) are found
// through PERL5LIB. `magpkg run test` runs the test suite with prove.
// The format is described in doc/manifest.md.
local pkgs = import "magnet/packages.jsonnet";

{
  packages: [pkgs.perl],

  env: {
    PERL5LIB: "$MAGPKG_PROJECT_ROOT/lib",
  },

  // Project directories put first on PATH.
  path: [],

  scripts: {
    test: "prove -lr t",
  },
}
