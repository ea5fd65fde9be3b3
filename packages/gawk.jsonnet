// GNU awk 5.2.1, from Debian's dfsg repack (`gawk_5.2.1.orig.tar.xz`).
//
// Debian removes the GFDL manual (doc/*.texi, doc/*.info) from the GNU
// release, so its orig tarball is a different file from `gawk-5.2.1.tar.xz`
// and the Debian archive is its only origin; the version says it is the
// repack. Without the manual's sources, doc/ is left out of the build and
// the man pages are installed by hand.
//
// Dynamic extensions (`@load`) need dlopen, which a static musl program
// has not: they are off, like readline, MPFR (`-M`) and the persistent
// memory allocator. The awk library (`@include "join"`...) is found
// through AWKPATH, which the package's env sets.
local tree = import 'tree.libsonnet';

tree.autotools {
  name: 'gawk',
  version: '5.2.1+dfsg',
  sources: [tree.source(
    'gawk_5.2.1.orig.tar.xz',
    '2337a0283b180ec1b9c727973a34781c6478b3ae9bcbdcca0a4dc49861d75a65',
    [tree.debian('pool/main/g/gawk', 'gawk_5.2.1.orig.tar.xz')],
  )],
  dir:: 'gawk-5.2.1',
  preConfigure:: |||
    # The manual's sources are not in the repack: no doc/ (man pages below).
    sed -i 's/^SUBDIRS = \(.*\) doc \(.*\)$/SUBDIRS = \1 \2/' Makefile.in
    grep -q '^SUBDIRS = support . $(am__append_1) extras awklib po test$' Makefile.in
    # The awk library (awklib/eg) is extracted from the manual: the
    # tarball has it extracted, and it is not extracted again.
    sed -i 's|^$(srcdir)/stamp-eg: .*|$(srcdir)/stamp-eg:|' awklib/Makefile.in
    grep -q '^$(srcdir)/stamp-eg:$' awklib/Makefile.in
  |||,
  configureFlags:: [
    '--disable-extensions',
    '--disable-pma',
    '--disable-mpfr',
    '--without-readline',
  ],
  postInstall:: |||
    mkdir -p "$out/share/man/man1"
    cp doc/gawk.1 doc/gawkbug.1 "$out/share/man/man1/"
  |||,
  env: {
    AWKPATH: '.:$out/share/awk',
  },
  tests:: [
    'gawk --version | grep -q "^GNU Awk 5.2.1"',
    'awk --version | grep -q "^GNU Awk 5.2.1"',
    // gawk-only features: arrays of arrays, gensub, asort, strftime.
    |||
      test "$(printf 'b 2\na 1\nb 3\n' | gawk '{ s[$1][NR] = $2 } END { n = asort(s["b"], v); printf "%d %s %s %s\n", n, v[2], gensub(/(a)(b)/, "\\2\\1", "g", "abab"), strftime("%Y", 0, 1) }')" = "2 3 baba 1970"
    |||,
    // The awk library through AWKPATH.
    'test "$(AWKPATH="$out/share/awk" gawk \'@include "join"; BEGIN { a[1] = "x"; a[2] = "y"; print join(a, 1, 2, "-") }\')" = x-y',
  ],
  meta: {
    description: "Pattern scanning and text processing language (Debian's dfsg repack of GNU awk 5.2.1)",
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/gawk/',
  },
}
