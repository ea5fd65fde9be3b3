// bzip2: the block-sorting compressor, and libbz2 (static library and header).
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'bzip2',
  version: '1.0.8',
  sources: [tree.source(
    'bzip2-1.0.8.tar.gz',
    'ab5a03176ee106d3f0fa90e381da478ddae405918153cca248e682cd0c4a2269',
    [
      'https://sourceware.org/pub/bzip2/bzip2-1.0.8.tar.gz',
      tree.debian('pool/main/b/bzip2', 'bzip2_1.0.8.orig.tar.gz'),
    ],
  )],
  tests:: [
    'bzip2 --help 2>&1 | grep -q Version',
    'echo magnet | bzip2 | bzcat | grep -qx magnet',
  ],
  // No configure script; `make check` is cheap (it compresses its samples),
  // so it always runs.
  script:: |||
    tar -xf "$src/bzip2-1.0.8.tar.gz"
    cd bzip2-1.0.8
    make -j%(jobs)s CC="%(cc)s" bzip2 bzip2recover
    make check CC="%(cc)s"
    make install CC="%(cc)s" PREFIX="$out"
    mkdir -p "$out/share"
    mv "$out/man" "$out/share/man"
  ||| % { jobs: pkg.jobs, cc: pkg.cc },
  meta: {
    description: 'High-quality block-sorting file compressor',
    license: 'bzip2-1.0.6',
    homepage: 'https://sourceware.org/bzip2/',
  },
}
