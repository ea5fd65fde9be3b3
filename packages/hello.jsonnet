// GNU hello, the reference package of the tree.
//
// By default a fully static musl binary (it runs in a root holding nothing
// else); `pkgs.hello { static: false }` is the dynamically linked glibc
// variant (its own id). The package output has bin/, share/... at its top
// (`--prefix=/`, installed into `$out`): bin/hello runs from the store path
// on any x86-64 Linux host. See doc/building.md for the conventions.
local bootstrap = import 'bootstrap.jsonnet';
local tree = import 'tree.libsonnet';

{
  // Jsonnet-level parameter (hidden, not part of the definition itself).
  static:: true,

  name: 'hello',
  version: '2.10',
  sources: [
    {
      filename: 'hello-2.10.tar.gz',
      sha256: '31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b',
      // The Debian orig tarball is byte-identical to the GNU release.
      urls: [
        'https://ftp.gnu.org/gnu/hello/hello-2.10.tar.gz',
        'mirror://debian/pool/main/h/hello/hello_2.10.orig.tar.gz',
      ] + tree.magnet('31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b'),
    },
  ],
  buildDeps: [bootstrap],
  build: |||
    tar -xf "$src/hello-2.10.tar.gz"
    cd hello-2.10
    ./configure --prefix=/ %(configure)s
    make
    make check
    make install DESTDIR="$out"
    # gnulib installs a charset table that belongs to no package.
    rm -f "$out/lib/charset.alias"
    rmdir "$out/lib" 2>/dev/null || true
  ||| % {
    configure: if $.static then 'CC="musl-gcc -static"' else '',
  },
  meta: {
    description: 'Produces a familiar, friendly greeting',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/hello/',
  },
}
