// Tcl 8.6.13 from Debian's dfsg repack (`tcl8.6_8.6.13+dfsg.orig.tar.gz`;
// Debian removes files it cannot distribute, so the archive is its only
// origin and the version says so).
//
// In the tree as a build tool: SQLite generates its amalgamation with Tcl
// scripts. `tclsh` (and `tclsh8.6`), the static libtcl8.6.a, headers and
// the script library in lib/tcl8.6, which `env` points TCL_LIBRARY at
// (tclsh also finds it relative to itself).
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'tcl',
  version: '8.6.13+dfsg',
  sources: [tree.source(
    'tcl8.6_8.6.13+dfsg.orig.tar.gz',
    '83bce7277e3825df0179567e0d8a431ebb1a126df53ea4a94af89dd4dd0f26d5',
    [tree.debian('pool/main/t/tcl8.6', 'tcl8.6_8.6.13+dfsg.orig.tar.gz')],
  )],
  script:: |||
    tar -xf "$src/tcl8.6_8.6.13+dfsg.orig.tar.gz"
    cd tcl8.6.13/unix
    ./configure --prefix=/ --disable-shared --enable-threads --disable-rpath CC="%(cc)s"
    make -j%(jobs)s
    make install-binaries install-libraries DESTDIR="$out"
    ln -s tclsh8.6 "$out/bin/tclsh"
  ||| % { cc: pkg.cc, jobs: pkg.jobs },
  env: { TCL_LIBRARY: '$out/lib/tcl8.6' },
  tests:: [
    'TCL_LIBRARY="$out/lib/tcl8.6"; export TCL_LIBRARY',
    'test "$(echo \'puts [expr {6 * 7}]\' | tclsh)" = 42',
    'test "$(echo \'puts [string map {a b} [info patchlevel]]\' | tclsh)" = 8.6.13',
  ],
  meta: {
    description: "Tcl scripting language interpreter (Debian's dfsg repack of Tcl 8.6.13)",
    license: 'TCL',
    homepage: 'https://www.tcl-lang.org/',
  },
}
