// GNU findutils 4.9.0: find, xargs, locate and updatedb.
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'findutils',
  version: '4.9.0',
  sources: [tree.gnuSource(
    'findutils', '4.9.0', 'tar.xz',
    'a2bfb8c09d436770edc59f50fa483e785b161a3b7b9d547573cb08065fd462fe',
    'pool/main/f/findutils', 'findutils_4.9.0.orig.tar.xz',
  )],
  tests:: [
    'find --version | grep -q "GNU findutils"',
    'find "$out/bin" -name xargs -type f | grep -q xargs',
    'test "$(printf "a b c" | xargs -n 1 | wc -l)" -eq 3',
  ],
  meta: {
    description: 'Finds files (find, xargs, locate, updatedb)',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/findutils/',
  },
}
