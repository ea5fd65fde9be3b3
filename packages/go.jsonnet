// Go 1.19: the go command, gofmt, the compiler toolchain and the standard
// library, built from source.
//
// Go is written in Go, so its build needs a Go compiler: Debian's own Go
// 1.19 binary packages (the toolchain and its standard library sources),
// pinned by sha256 like the bootstrap root's .debs, are unpacked into the
// build directory and used once, as GOROOT_BOOTSTRAP. They are sources of
// this package rather than part of the bootstrap root so that the 29-package
// root (and so every other package's id) stays as it is, and only a build
// of Go downloads them (80 MB).
//
// The toolchain is built with CGO_ENABLED=0, which is also the default it
// keeps: `go build` in an environment makes static, pure-Go programs and
// needs no C compiler (the environment has none unless it asks for one).
// GOROOT is found from the `go` binary's own place (its real path, past the
// profile's symlinks), so the store path is never written into it.
local tree = import 'tree.libsonnet';

local deb(file, sha256) = tree.source(file, sha256, ['mirror://debian/pool/main/g/golang-1.19/' + file]);

tree.package {
  local pkg = self,
  name: 'go',
  version: '1.19.8',
  sources: [
    // Byte-identical to the upstream release (its signature is in the
    // Debian archive beside it, and other public recipes pin this sha256).
    tree.source(
      'go1.19.8.src.tar.gz',
      '1d7a67929dccafeaf8a29e55985bc2b789e0499cb1a17100039f084e3238da2f',
      [
        'https://go.dev/dl/go1.19.8.src.tar.gz',
        tree.debian('pool/main/g/golang-1.19', 'golang-1.19_1.19.8.orig.tar.gz'),
      ],
    ),
    // The bootstrap compiler: Debian's binary packages (Debian's files are
    // their only origin).
    deb('golang-1.19-go_1.19.8-2_amd64.deb', '545123039b6c79e75cf2d86528781a825424cf33ce9d3f4513d772d7144cd531'),
    deb('golang-1.19-src_1.19.8-2_all.deb', '2dfa82fe4f08f4e0193c532e561af4c91871f5235608f04f2bb8d57bb288df5a'),
  ],
  // Go's binaries are not stripped (the go command reads its own build
  // information; stripping saves little).
  strip:: false,
  tests:: [
    'go version | grep -q "go1.19.8 linux/amd64"',
    "printf 'package x\\n' | gofmt | grep -qx 'package x'",
    // A module builds, offline, into a static program.
    |||
      mkdir -p /build/t && cd /build/t && printf 'module example.org/t\n\ngo 1.19\n' > go.mod
      printf 'package main\n\nimport ("fmt"; "net/http"; "os/user")\n\nfunc main() { _ = http.StatusOK; _, _ = user.Current(); fmt.Println("hello from go") }\n' > main.go
      HOME=/build GOCACHE=/build/gocache GOFLAGS=-mod=mod GOPROXY=off go build -o t . && ./t | grep -qx "hello from go"
      ! objdump -p t | grep -q "^ *INTERP "
    |||,
  ],
  script:: |||
    # The bootstrap toolchain, as Debian installs it: /usr/lib/go-1.19 with
    # src -> ../../share/go-1.19/src.
    mkdir -p /build/boot && cd /build/boot
    for d in "$src"/golang-1.19-go_*.deb "$src"/golang-1.19-src_*.deb; do
      ar x "$d" data.tar.xz && tar -xJf data.tar.xz && rm data.tar.xz
    done
    export GOROOT_BOOTSTRAP=/build/boot/usr/lib/go-1.19
    cd /build
    tar -xzf "$src/go1.19.8.src.tar.gz"
    cd go/src
    # make.bash needs bash, which the bootstrap root lacks; these are its
    # steps: build cmd/dist with the bootstrap compiler, then let it build
    # the toolchain (in three stages) and the standard library.
    export HOME=/build GOCACHE=/build/gocache GOENV=off GOFLAGS= GO111MODULE=off
    export CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOAMD64=v1
    export GOROOT_FINAL=/magpkg/go
    GOROOT="$GOROOT_BOOTSTRAP" "$GOROOT_BOOTSTRAP/bin/go" build -trimpath -o cmd/dist/dist ./cmd/dist
    export GOROOT=/build/go
    eval "$(./cmd/dist/dist env -p)"
    ./cmd/dist/dist bootstrap -a
    rm -f cmd/dist/dist
    cd /build/go
    # What a GOROOT needs at run time; the test suite and the bootstrap's
    # leftovers go.
    rm -rf test pkg/obj pkg/bootstrap "pkg/tool/linux_amd64/api" .github
    mkdir -p "$out/lib" "$out/bin"
    cp -a /build/go "$out/lib/go"
    ln -s ../lib/go/bin/go "$out/bin/go"
    ln -s ../lib/go/bin/gofmt "$out/bin/gofmt"
  |||,
  meta: {
    description: 'The Go programming language: compiler, tools and standard library',
    license: 'BSD-3-Clause',
    homepage: 'https://go.dev/',
  },
}
