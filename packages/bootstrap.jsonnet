// PLACEHOLDER (written by the eval work so the tree evaluates): the build
// work replaces this file with the real bootstrap package, a builtin
// `rootfs` unpacked from 29 Debian .debs (see shared data bootstrap-debs.tsv).
{
  name: 'bootstrap',
  version: '0-placeholder',
  sources: [],
  build: { builtin: 'rootfs' },
  meta: {
    description: 'Placeholder for the bootstrap build root',
  },
}
