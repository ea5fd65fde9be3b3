// A C or C++ project's environment: `magpkg shell` enters it, `magpkg run
// build` builds. The format is described in doc/manifest.md.
local pkgs = import "magnet/packages.jsonnet";

{
  // The compiler is the tree's, not the host's: gcc 12 (`cc`, `c++`) with
  // its own binutils (`ld`, `ar`...) and C library (musl), so every machine
  // compiles alike. Programs are static by default: they run on any x86-64
  // Linux. Then make, and the libraries the project links (their headers
  // and static libraries are found through C_INCLUDE_PATH and LIBRARY_PATH).
  // `--pure` (`magpkg shell --pure`, `magpkg run --pure`) has nothing of
  // the host, no shell either: scripts run with `sh`, so add a shell and
  // the usual tools (`pkgs.busybox`) for them and for recipes that need one.
  packages: [pkgs.gcc, pkgs.make, pkgs.zlib],

  // Variables. `$MAGPKG_PROJECT_ROOT` stands for the directory of this file.
  env: {},

  // Project directories put first on PATH.
  path: [],

  scripts: {
    build: "make",
    test: "make check",
  },
}
