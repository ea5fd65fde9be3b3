// GNU automake 1.16.5, from the GNU release (Debian's orig tarball is the
// same file).
//
// `automake` and `aclocal` are Perl scripts; their library
// (share/automake-1.16) and macro directories (share/aclocal-1.16,
// share/aclocal) are found relative to each script's real location
// (`tree.relocatePerl`), and perl and autoconf are run from PATH (run
// dependencies). Macros of other packages of an environment (libtool's)
// are found through ACLOCAL_PATH, which environments set to their
// share/aclocal.
local autoconf = import 'autoconf.jsonnet';
local perl = import 'perl.jsonnet';
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'automake',
  version: '1.16.5',
  sources: [tree.gnuSource(
    'automake', '1.16.5', 'tar.xz',
    'f01d58cd6d9d77fbdca9eb4bbd5ead1988228fdb73d6f7a201f5f8d6b118b469',
    'pool/main/a/automake-1.16', 'automake-1.16_1.16.5.orig.tar.xz',
  )],
  buildDeps+: [autoconf, perl],
  runDeps: [autoconf, perl],
  postInstall:: tree.relocatePerl + |||
    cd "$out"
    rm -rf share/info share/doc
    relocate_perl bin/automake bin/aclocal share/automake-1.16/Automake/Config.pm
    # The versioned names were hard links to the scripts.
    ln -sfn automake bin/automake-1.16
    ln -sfn aclocal bin/aclocal-1.16
    if grep -rn -e "'//" -e '/deps/' bin share/automake-1.16/Automake; then exit 1; fi
  |||,
  tests:: [
    'automake --version | grep -q "^automake (GNU automake) 1.16.5"',
    'aclocal-1.16 --version | grep -q "^aclocal (GNU automake) 1.16.5"',
    // A program's build made by autoreconf, configured, built and run.
    |||
      test ! -e /share/automake-1.16
      mkdir -p /tmp/am && cd /tmp/am
      printf 'AC_INIT([hello], [1.0])\nAM_INIT_AUTOMAKE([foreign])\nAC_PROG_CC\nAC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n' >configure.ac
      printf 'bin_PROGRAMS = hello\nhello_SOURCES = hello.c\n' >Makefile.am
      printf '#include <stdio.h>\nint main(void) { puts("hello from automake"); return 0; }\n' >hello.c
      autoreconf -i
      test -f Makefile.in && test -x compile -o -f depcomp
    ||| + '  ./configure CC="%s" >/dev/null\n' % pkg.cc + |||
      make && test "$(./hello)" = "hello from automake"
    |||,
  ],
  meta: {
    description: 'Generates Makefile.in files from Makefile.am (GNU automake)',
    license: 'GPL-2.0-or-later',
    homepage: 'https://www.gnu.org/software/automake/',
  },
}
