// GNU bash 5.2.15: the shell, static (musl), with its bundled readline and
// the tree's ncurses for terminal handling.
//
// The source is Debian's orig tarball `bash_5.2.15.orig.tar.gz`: GNU
// releases bash 5.2 as `bash-5.2.tar.gz` plus one patch per fix, and this
// tarball is Debian's bash 5.2 with patches 1 to 15 applied, a file no
// GNU server has. The Debian archive is its only origin and the version
// says so.
local ncurses = import 'ncurses.jsonnet';
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'bash',
  version: '5.2.15+debian',
  dir:: 'bash-5.2.15',
  sources: [tree.source(
    'bash_5.2.15.orig.tar.gz',
    '7a315bc0e9d90713159e4390ec1096a41e4f33cd8cc3d1a749a8e5ad56600f51',
    [tree.debian('pool/main/b/bash', 'bash_5.2.15.orig.tar.gz')],
  )],
  buildDeps+: [ncurses { static: pkg.static }],
  configureFlags:: [
    'CPPFLAGS="%s"' % pkg.depCppflags,
    'LDFLAGS="%s"' % pkg.depLdflags,
    '--without-bash-malloc',
    '--with-curses',
    '--disable-nls',
    // bash 5.2's m4/strtoimax.m4 is reversed: it compiles its own strtoimax
    // when the C library has a usable one, which clashes with musl's in a
    // static link. `no` (the cached answer) leaves it out.
    'bash_cv_func_strtoimax=no',
  ] + (if pkg.static then ['--enable-static-link'] else []),
  postInstall:: |||
    rm -rf "$out/share/doc" "$out/share/info" "$out/share/locale"
  |||,
  tests:: [
    'bash --version | grep -q "version 5.2.15"',
    'test "$(bash -c \'a=(m a g); echo "${#a[@]}${a[1]^^}$((6*7))"\')" = 3A42',
    'test "$(bash -c \'declare -A h=([k]=v); [[ magnet == mag* ]] && echo ${h[k]}\')" = v',
    'test "$(bash -c \'echo $(( $(printf "%s" {1..10} | wc -c) ))\')" = 11',
  ],
  meta: {
    description: "GNU Bourne-Again SHell (Debian's tarball of bash 5.2 with patches 1-15)",
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/bash/',
  },
}
