// GNU libtool 2.4.7 (libtoolize, the libtool macros, libltdl), from
// Debian's orig tarball (`libtool_2.4.7.orig.tar.xz`).
//
// Debian's file is not the GNU release file (`libtool-2.4.7.tar.xz` has
// another sha256: Debian's holds the release's files, repacked), so the
// Debian archive is its only origin and the version says so.
//
// `libtoolize` copies ltmain.sh and the libtool macros into a project; it
// finds them relative to its own location (its `prefix` is worked out from
// `$0`, following a symlink from an environment's profile) instead of the
// install prefix, so the package works from wherever the store is. aclocal
// finds the macros through ACLOCAL_PATH (environments set it to their
// share/aclocal). The `libtool` program installed beside it is the one
// configured for this package's own build (musl-gcc); a project's
// configure makes its own.
local m4 = import 'm4.jsonnet';
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'libtool',
  version: '2.4.7+debian',
  sources: [tree.source(
    'libtool_2.4.7.orig.tar.xz',
    'dd637e270439b208907ceead3f163470ed2ce5723ef97ffbda6463c64b57128a',
    [tree.debian('pool/main/libt/libtool', 'libtool_2.4.7.orig.tar.xz')],
  )],
  dir:: 'libtool-2.4.7',
  // configure checks for GNU m4 (libtoolize itself does not run it).
  buildDeps+: [m4],
  preConfigure:: |||
    # libtoolize's data directories, from its own location.
    cat >/tmp/prefix.sh <<'SH'
      magpkg_self=$0
      while test -h "$magpkg_self"; do
        magpkg_link=$(readlink "$magpkg_self") || break
        case $magpkg_link in
          /*) magpkg_self=$magpkg_link ;;
          *) magpkg_self=${magpkg_self%/*}/$magpkg_link ;;
        esac
      done
      prefix=$(cd "${magpkg_self%/*}/.." && pwd)
      datadir=$prefix/share
      pkgauxdir=$prefix/share/libtool/build-aux
      pkgltdldir=$prefix/share/libtool
      aclocaldir=$prefix/share/aclocal
    SH
    grep -q '^  prefix="@prefix@"$' libtoolize.in
    sed -i -e '/^  prefix="@prefix@"$/r /tmp/prefix.sh' -e '/^  prefix="@prefix@"$/d' \
      -e '/^  datadir="@datadir@"$/d' -e '/^  pkgauxdir="@pkgauxdir@"$/d' \
      -e '/^  pkgltdldir="@pkgdatadir@"$/d' -e '/^  aclocaldir="@aclocaldir@"$/d' libtoolize.in
    if grep -n '^  [a-z]*dir="@' libtoolize.in; then exit 1; fi
  |||,
  // The tools libtoolize runs, from PATH.
  configureFlags:: ['SED=sed', 'GREP=grep', "EGREP='grep -E'", "FGREP='grep -F'", '--disable-shared'],
  // The edit of libtoolize.in makes its man page look out of date: the one
  // in the tarball is kept (no help2man).
  makeFlags:: ['HELP2MAN=true'],
  postInstall:: |||
    rm -rf "$out/share/info"
    # `#! /usr/bin/env sh`: not every sandbox has /usr/bin/env.
    sed -i '1s|^#! /usr/bin/env sh$|#! /bin/sh|' "$out/bin/libtoolize"
    head -n 1 "$out/bin/libtoolize" | grep -qx '#! /bin/sh'
    if grep -n '//share' "$out/bin/libtoolize"; then exit 1; fi
  |||,
  tests:: [
    'libtoolize --version | grep -q "^libtoolize (GNU libtool) 2.4.7"',
    // The files it copies into a project come from the package, wherever
    // it is (there is no /share/libtool).
    |||
      test ! -e /share/libtool
      mkdir -p /tmp/lt && cd /tmp/lt
      printf 'AC_INIT([t], [1])\nAC_CONFIG_MACRO_DIRS([m4])\nAC_CONFIG_AUX_DIR([build-aux])\nLT_INIT\n' >configure.ac
      libtoolize --copy --install
      test -s build-aux/ltmain.sh && test -s m4/libtool.m4 && test -s m4/ltversion.m4
      cmp build-aux/ltmain.sh "$out/share/libtool/build-aux/ltmain.sh"
    |||,
    'test -f "$out/lib/libltdl.a" && test -f "$out/include/ltdl.h"',
  ],
  meta: {
    description: "Generic library support script: libtoolize, libtool macros, libltdl (Debian's tarball of GNU libtool 2.4.7)",
    license: 'GPL-2.0-or-later AND LGPL-2.1-or-later',
    homepage: 'https://www.gnu.org/software/libtool/',
  },
}
