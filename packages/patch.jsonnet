// GNU patch 2.7.6, from the GNU release (Debian's orig tarball is the same file).
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'patch',
  version: '2.7.6',
  sources: [tree.gnuSource(
    'patch', '2.7.6', 'tar.xz',
    'ac610bda97abe0d9f6b7c963255a11dcb196c25e337c61f94e4778d632f1d8fd',
    'pool/main/p/patch', 'patch_2.7.6.orig.tar.xz',
  )],
  tests:: [
    'patch --version',
    'cd /tmp && echo a >f && echo b >g && { diff -u f g >p || :; } && patch -s f p && grep -qx b f',
  ],
  meta: {
    description: 'Applies a diff file to an original',
    license: 'GPL-3.0-or-later',
    homepage: 'https://savannah.gnu.org/projects/patch/',
  },
}
