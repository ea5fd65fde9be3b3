// GNU diffutils 3.8, from the GNU release (Debian's orig tarball is the same file).
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'diffutils',
  version: '3.8',
  sources: [tree.gnuSource(
    'diffutils', '3.8', 'tar.xz',
    'a6bdd7d1b31266d11c4f4de6c1b748d4607ab0231af5188fc2533d0ae2438fec',
    'pool/main/d/diffutils', 'diffutils_3.8.orig.tar.xz',
  )],
  tests:: [
    'diff --version',
    'cmp --version',
    'diff3 --version',
    'sdiff --version',
    '! diff "$out/bin/diff" "$out/bin/cmp" >/dev/null',
  ],
  meta: {
    description: 'File comparison utilities: diff, cmp, diff3, sdiff',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/diffutils/',
  },
}
