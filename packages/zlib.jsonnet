// zlib from Debian's dfsg repack of 1.2.13 (`zlib_1.2.13.dfsg.orig.tar.bz2`).
//
// The repack is not byte-identical to the zlib.net release (Debian removes
// parts of contrib/ it cannot distribute), so it is its own source with its
// own pin, and the Debian archive is its only origin. The version says so.
//
// libz.a built with musl (default) for the tree's static programs;
// `{ static: false }` builds it with glibc, `{ static: false, shared: true }`
// adds libz.so.
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  shared:: false,
  assert !(pkg.shared && pkg.static) : 'zlib: a shared libz needs { static: false }',

  name: 'zlib',
  version: '1.2.13+dfsg',
  sources: [tree.source(
    'zlib_1.2.13.dfsg.orig.tar.bz2',
    '71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1',
    [tree.debian('pool/main/z/zlib', 'zlib_1.2.13.dfsg.orig.tar.bz2')],
  )],
  // zlib's own configure (not autoconf) quietly drops features whose probe
  // fails (e.g. -DNO_vsnprintf when the compiler cannot link): the build
  // stops if it did. `make test` takes seconds, so it always runs.
  script:: |||
    tar -xf "$src/zlib_1.2.13.dfsg.orig.tar.bz2"
    cd zlib-1.2.13.dfsg
    CC="%(cc)s" ./configure --prefix=/ %(configure)s
    if grep -n -e '-DNO_' Makefile; then
      echo "magpkg tree: zlib's configure degraded the build (see configure.log)" >&2
      exit 1
    fi
    make -j%(jobs)s
    make test
    make install DESTDIR="$out"
  ||| % {
    cc: pkg.cc,
    jobs: pkg.jobs,
    configure: if pkg.shared then '' else '--static',
  },
  meta: {
    description: "Compression library (Debian's dfsg repack of zlib 1.2.13)",
    license: 'Zlib',
    homepage: 'https://zlib.net/',
  },
}
