// GNU gzip 1.12, from the GNU release (Debian's orig tarball is the same file).
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'gzip',
  version: '1.12',
  sources: [tree.gnuSource(
    'gzip', '1.12', 'tar.xz',
    'ce5e03e519f637e1f814011ace35c4f87b33c0bbabeec35baf5fbd3479e91956',
    'pool/main/g/gzip', 'gzip_1.12.orig.tar.xz',
  )],
  tests:: [
    'gzip --version',
    'echo magnet | gzip -9 | gzip -d | grep -qx magnet',
  ],
  meta: {
    description: 'Compression utility (the GNU zip format)',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/gzip/',
  },
}
