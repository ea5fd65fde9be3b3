// tree: lists the contents of directories as a tree.
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'tree',
  version: '2.1.0',
  sources: [tree.source(
    'tree-2.1.0.tgz',
    '0160c535bff2b0dc6a830b9944e981e3427380f63e748da96ced7071faebabf6',
    [
      'https://oldmanprogrammer.net/tar/tree/tree-2.1.0.tgz',
      tree.debian('pool/main/t/tree', 'tree_2.1.0.orig.tar.gz'),
    ],
  )],
  tests:: [
    'tree --version',
    'tree "$out" | grep -q "tree.1"',
  ],
  // A plain Makefile whose install rule needs `install(1)`, which the
  // bootstrap root lacks (Debian's busybox has no such applet): copy by hand.
  script:: |||
    tar -xf "$src/tree-2.1.0.tgz"
    cd tree-2.1.0
    make -j%(jobs)s CC="%(cc)s"
    mkdir -p "$out/bin" "$out/share/man/man1"
    cp tree "$out/bin/tree"
    cp doc/tree.1 "$out/share/man/man1/tree.1"
  ||| % { jobs: pkg.jobs, cc: pkg.cc },
  meta: {
    description: 'Lists the contents of directories in a tree-like format',
    license: 'GPL-2.0-or-later',
    homepage: 'https://oldmanprogrammer.net/source.php?dir=projects/tree',
  },
}
