// This project's environment: `magpkg shell` enters it, `magpkg run NAME`
// runs a script in it. The format is described in doc/manifest.md.
local pkgs = import "magnet/packages.jsonnet";

{
  // Tools from the Magnet package tree, e.g. [pkgs.hello, pkgs.make].
  packages: [],

  // Variables. `$MAGPKG_PROJECT_ROOT` stands for the directory of this file.
  env: {},

  // Project directories put first on PATH, e.g. ["./scripts"].
  path: [],

  // Commands for `magpkg run NAME`.
  scripts: {},
}
