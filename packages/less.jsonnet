// less 590: the pager. Linked with the tree's ncurses (static library), so
// the program needs nothing at run time but a terminfo database: the host's
// (ncurses' compiled-in search path) or ncurses' own through TERMINFO_DIRS.
local ncurses = import 'ncurses.jsonnet';
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'less',
  version: '590',
  sources: [tree.source(
    'less-590.tar.gz',
    '6aadf54be8bf57d0e2999a3c5d67b1de63808bb90deb8f77b028eafae3a08e10',
    [
      'https://www.greenwoodsoftware.com/less/less-590.tar.gz',
      tree.debian('pool/main/l/less', 'less_590.orig.tar.gz'),
    ],
  )],
  // The same C library as less itself.
  buildDeps+: [ncurses { static: pkg.static }],
  configureFlags:: [
    'CPPFLAGS="%s"' % pkg.depCppflags,
    'LDFLAGS="%s"' % pkg.depLdflags,
    '--with-regex=posix',
  ],
  tests:: [
    'less --version | grep -q "less 590"',
    'lesskey -V',
    'test "$(echo magnet | less -F)" = magnet',
  ],
  meta: {
    description: 'Pager: shows text a screen at a time, forward and backward',
    license: 'GPL-3.0-or-later OR BSD-2-Clause',
    homepage: 'https://www.greenwoodsoftware.com/less/',
  },
}
