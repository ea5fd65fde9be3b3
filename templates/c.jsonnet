// A C project's environment: `magpkg shell` enters it, `magpkg run build`
// builds. The format is described in doc/manifest.md.
local pkgs = import "magnet/packages.jsonnet";

{
  // make and the libraries the project links; their headers and libraries
  // are put on C_INCLUDE_PATH and LIBRARY_PATH, which the host's cc reads.
  packages: [pkgs.make, pkgs.zlib],

  // Variables. `$MAGPKG_PROJECT_ROOT` stands for the directory of this file.
  env: {},

  // Project directories put first on PATH.
  path: [],

  scripts: {
    build: "make",
    test: "make check",
  },
}
