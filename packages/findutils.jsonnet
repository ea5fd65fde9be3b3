// GNU findutils 4.9.0: find, xargs, locate and updatedb.
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'findutils',
  version: '4.9.0',
  sources: [tree.gnuSource(
    'findutils', '4.9.0', 'tar.xz',
    'a2bfb8c09d436770edc59f50fa483e785b161a3b7b9d547573cb08065fd462fe',
    'pool/main/f/findutils', 'findutils_4.9.0.orig.tar.xz',
  )],
  // locate's default database, as on Debian.
  configureFlags:: ['--localstatedir=/var/cache/locate'],
  // updatedb (a script) finds frcode and find through paths fixed at build
  // time: make them relative to where the script is.
  postInstall:: |||
    sed -i -e 's|^\( *: \${LIBEXECDIR=\)//libexec}|\1"${0%/*}/../libexec"}|' \
      -e 's|^\( *: \${BINDIR=\)//bin}|\1"${0%/*}"}|' "$out/bin/updatedb"
    grep -q 'LIBEXECDIR="${0%/\*}/../libexec"' "$out/bin/updatedb"
  |||,
  tests:: [
    'find --version | grep -q "GNU findutils"',
    'find "$out/bin" -name xargs -type f | grep -q xargs',
    'test "$(printf "a b c" | xargs -n 1 | wc -l)" -eq 3',
    'updatedb --localpaths="$out" --output=/tmp/locatedb && locate -d /tmp/locatedb bin/xargs | grep -q xargs',
  ],
  meta: {
    description: 'Finds files (find, xargs, locate, updatedb)',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/findutils/',
  },
}
