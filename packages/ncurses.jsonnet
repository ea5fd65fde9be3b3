// ncurses 6.4: terminal-independent screen handling, wide-character build.
//
// The libraries are static archives (libncursesw.a, libformw.a, libmenuw.a,
// libpanelw.a; headers directly in include/), so the programs that use them
// are self-contained; `static` chooses the C library they are compiled for
// (musl by default, glibc with `{ static: false }`), `{ static: false,
// shared: true }` adds shared libraries. The non-wide names (-lncurses,
// -lcurses) link to the wide libraries, as most distributions do.
//
// Compiled-in terminfo search path: the locations Linux distributions use,
// so the static programs find the host's terminal descriptions; this
// package's own database (share/terminfo) is used through TERMINFO_DIRS,
// which its `env` sets.
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  shared:: false,
  assert !(pkg.shared && pkg.static) : 'ncurses: shared libraries need { static: false }',

  name: 'ncurses',
  version: '6.4',
  sources: [tree.source(
    'ncurses-6.4.tar.gz',
    '6931283d9ac87c5073f30b6290c4c75f21632bb4fc3603ac8100812bed248159',
    [
      'https://invisible-island.net/archives/ncurses/ncurses-6.4.tar.gz',
      'https://ftp.gnu.org/gnu/ncurses/ncurses-6.4.tar.gz',
      tree.debian('pool/main/n/ncurses', 'ncurses_6.4.orig.tar.gz'),
    ],
  )],
  configureFlags:: [
    '--enable-widec',
    '--enable-overwrite',
    '--enable-pc-files',
    '--with-pkg-config-libdir=/lib/pkgconfig',
    '--with-terminfo-dirs=/etc/terminfo:/lib/terminfo:/usr/share/terminfo:/usr/lib/terminfo',
    // No C++ compiler in the bootstrap root, no Ada.
    '--without-cxx',
    '--without-cxx-binding',
    '--without-ada',
    '--without-tests',
    '--without-debug',
    '--disable-stripping',
    if pkg.shared then '--with-shared' else '--without-shared',
    // configure would pick `ar -curvU`: U stores timestamps and owners in
    // the archives, and the build is no longer reproducible.
    'cf_cv_ar_flags=-crvD',
  ],
  postInstall:: |||
    for l in ncurses form menu panel; do
      ln -s lib${l}w.a "$out/lib/lib$l.a"
    done
    ln -s libncursesw.a "$out/lib/libcurses.a"
    ln -s ncursesw.pc "$out/lib/pkgconfig/ncurses.pc"
  |||,
  env: {
    TERMINFO_DIRS: '$out/share/terminfo:/etc/terminfo:/lib/terminfo:/usr/share/terminfo',
  },
  tests:: [
    'tic -V',
    'TERMINFO="$out/share/terminfo" infocmp xterm-256color | grep -q "colors#0x100"',
    'test "$(TERMINFO="$out/share/terminfo" tput -T vt100 cols)" = 80',
  ],
  meta: {
    description: 'Terminal handling library (curses) with terminfo tools and database',
    license: 'X11',
    homepage: 'https://invisible-island.net/ncurses/',
  },
}
