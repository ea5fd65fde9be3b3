// GNU m4 1.4.19, from the GNU release (Debian's orig tarball is the same file).
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'm4',
  version: '1.4.19',
  sources: [tree.gnuSource(
    'm4', '1.4.19', 'tar.xz',
    '63aede5c6d33b6d9b13511cd0be2cac046f2e70fd0a07aa9573a04a82783af96',
    'pool/main/m/m4', 'm4_1.4.19.orig.tar.xz',
  )],
  tests:: [
    'm4 --version',
    'echo \'define(x, magnet)x\' | m4 | grep -qx magnet',
  ],
  meta: {
    description: 'Macro processor',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/m4/',
  },
}
