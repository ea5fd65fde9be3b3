// A Go module's environment: `magpkg shell` enters it, `magpkg run build`
// builds and `magpkg run test` tests. The format is described in
// doc/manifest.md.
local pkgs = import "magnet/packages.jsonnet";

{
  // Go from the tree: the compiler and standard library, built from source.
  // It builds static, pure-Go programs (cgo is off: no C compiler needed).
  packages: [pkgs.go],

  env: {
    // The module and build caches stay inside the project (ignored by
    // git through .magpkg/), so the environment needs nothing from $HOME.
    GOPATH: "$MAGPKG_PROJECT_ROOT/.magpkg/go",
    GOCACHE: "$MAGPKG_PROJECT_ROOT/.magpkg/go/cache",
    // Reproducible binaries: no file system paths in them.
    GOFLAGS: "-trimpath",
  },

  // Project directories put first on PATH (`go install` puts programs in
  // $GOPATH/bin).
  path: [".magpkg/go/bin"],

  scripts: {
    build: "go build ./...",
    test: "go test ./...",
  },
}
