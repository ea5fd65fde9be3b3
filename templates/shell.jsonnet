// An environment for shell scripts with the same tools on every machine.
// `magpkg shell` enters it. The format is described in doc/manifest.md.
local pkgs = import "magnet/packages.jsonnet";

{
  packages: [pkgs.coreutils, pkgs.sed, pkgs.grep, pkgs.findutils, pkgs.diffutils, pkgs.gzip],

  env: {},

  // The project's own scripts, callable by name.
  path: ["./scripts"],

  scripts: {},
}
