// GNU sed 4.9, from the GNU release (Debian's orig tarball is the same file).
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'sed',
  version: '4.9',
  sources: [tree.gnuSource(
    'sed', '4.9', 'tar.xz',
    '6e226b732e1cd739464ad6862bd1a1aba42d7982922da7a53519631d24975181',
    'pool/main/s/sed', 'sed_4.9.orig.tar.xz',
  )],
  tests:: [
    'sed --version',
    'echo magpkg | sed s/pkg/net/ | grep -qx magnet',
  ],
  meta: {
    description: 'Stream editor',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/sed/',
  },
}
