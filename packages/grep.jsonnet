// GNU grep 3.8, from the GNU release (Debian's orig tarball is the same file).
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'grep',
  version: '3.8',
  sources: [tree.gnuSource(
    'grep', '3.8', 'tar.xz',
    '498d7cc1b4fb081904d87343febb73475cf771e424fb7e6141aff66013abc382',
    'pool/main/g/grep', 'grep_3.8.orig.tar.xz',
  )],
  tests:: [
    'grep --version',
    'echo magnet | grep -Eq \'^ma(g|x)net$\'',
  ],
  meta: {
    description: 'Searches files for lines matching patterns',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/grep/',
  },
}
