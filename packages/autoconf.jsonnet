// GNU autoconf 2.71, from the GNU release (Debian's orig tarball is the same
// file).
//
// autoconf's programs are Perl scripts (and `autoconf` a shell script) that
// run m4 and find their macro library in the install prefix. Built with
// `--prefix=/`, the paths they were given ('//share/autoconf',
// '//bin/autom4te') are rewritten to be relative to each program's own real
// location (`tree.relocatePerl`), m4 and perl are run from PATH (both are
// run dependencies), and autom4te's configuration (autom4te.cfg, which names
// the library directory) is read with that directory put in. So the package
// works from wherever the store is, and the usual variables (AUTOM4TE,
// AC_MACRODIR, autom4te_perllibdir, M4) still override it.
local m4 = import 'm4.jsonnet';
local perl = import 'perl.jsonnet';
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'autoconf',
  version: '2.71',
  sources: [tree.gnuSource(
    'autoconf', '2.71', 'tar.gz',
    '431075ad0bf529ef13cb41e9042c542381103e80015686222b8a9d4abef42a1c',
    'pool/main/a/autoconf', 'autoconf_2.71.orig.tar.gz',
  )],
  buildDeps+: [m4, perl],
  runDeps: [m4, perl],
  configureFlags:: ['M4=m4'],
  postInstall:: tree.relocatePerl + |||
    cd "$out"
    rm -rf share/info share/emacs share/doc
    # autom4te.cfg names the library directory as '//share/autoconf'.
    grep -q "^args: --prepend-include '//share/autoconf'$" share/autoconf/autom4te.cfg
    sed -i 's#push @{$language{$lang}}, @words;$#push @{$language{$lang}}, map { $_ eq "//share/autoconf" ? $pkgdatadir : $_ } @words;#' bin/autom4te
    grep -q 'map { $_ eq "//share/autoconf" ? $pkgdatadir : $_ } @words;' bin/autom4te
    relocate_perl bin/autom4te bin/autoheader bin/autoreconf bin/autoscan bin/autoupdate bin/ifnames
    # `autoconf` is a shell script: it finds its directory through perl.
    grep -q "^: \${AUTOM4TE='//bin/autom4te'}$" bin/autoconf
    grep -q "^: \${trailer_m4='//share/autoconf/autoconf/trailer.m4'}$" bin/autoconf
    sed -i -e "s#^: \${AUTOM4TE='//bin/autom4te'}\$#: \${AUTOM4TE=\"\$magpkg_bin/autom4te\"}#" \
      -e "s#^: \${trailer_m4='//share/autoconf/autoconf/trailer.m4'}\$#: \${trailer_m4=\"\$magpkg_bin/../share/autoconf/autoconf/trailer.m4\"}#" \
      -e "1a magpkg_bin=\$(perl -MCwd=abs_path -MFile::Basename=dirname -e 'print dirname(abs_path(\$ARGV[0]))' -- \"\$0\")" \
      bin/autoconf
    if grep -rn -e "'//" -e '/deps/' bin; then exit 1; fi
  |||,
  tests:: [
    'autoconf --version | grep -q "^autoconf (GNU Autoconf) 2.71"',
    // A configure script made and run in a directory of its own, with the
    // library found relative to the programs (there is no /share/autoconf).
    |||
      test ! -e /share/autoconf
      mkdir -p /tmp/ac && cd /tmp/ac
      printf 'AC_INIT([t], [1.0])\nAC_CONFIG_HEADERS([config.h])\nAC_DEFINE([MAGNET], [1], [a test])\nAC_CHECK_HEADERS([stdio.h])\nAC_OUTPUT\n' >configure.ac
      autoconf && autoheader && autoreconf --version | grep -q "GNU Autoconf"
      ./configure >/dev/null && grep -qx '#define MAGNET 1' config.h
    |||,
  ],
  meta: {
    description: 'Generates configure scripts (GNU autoconf)',
    license: 'GPL-3.0-or-later WITH Autoconf-exception-3.0',
    homepage: 'https://www.gnu.org/software/autoconf/',
  },
}
