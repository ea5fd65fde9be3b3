// SQLite 3.40.1: the library (libsqlite3.a, sqlite3.h, sqlite3.pc) and the
// `sqlite3` shell (with readline line editing).
//
// The source is Debian's orig tarball `sqlite3_3.40.1.orig.tar.xz`, made by
// Debian from SQLite's source repository: it is not a file SQLite releases
// (those are the amalgamation `sqlite-autoconf-3400100.tar.gz` and the
// `sqlite-src-3400100.zip` snapshot), so the Debian archive is its only
// origin and the version says so. Like SQLite's own source snapshot, it
// needs Tcl to generate the amalgamation: the tree's tcl is a build tool.
//
// Static library for musl by default, glibc (position-independent) with
// `{ static: false }` (Python's `_sqlite3` module).
local ncurses = import 'ncurses.jsonnet';
local readline = import 'readline.jsonnet';
local tcl = import 'tcl.jsonnet';
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'sqlite',
  version: '3.40.1+debian',
  dir:: 'sqlite3-3.40.1',
  sources: [tree.source(
    'sqlite3_3.40.1.orig.tar.xz',
    'aaa776260ab4dc976db34aa7891819484c8676b5b2783123ebc6301e2ca5d655',
    [tree.debian('pool/main/s/sqlite3', 'sqlite3_3.40.1.orig.tar.xz')],
  )],
  buildDeps+: [
    readline { static: pkg.static },
    ncurses { static: pkg.static },
    tcl,
  ],
  configureFlags:: [
    'CPPFLAGS="%s"' % pkg.depCppflags,
    'LDFLAGS="%s"' % pkg.depLdflags,
    '--disable-shared',
    '--disable-tcl',
    '--enable-readline',
    '--disable-editline',
    '--enable-fts5',
    '--enable-rtree',
    '--enable-math',
    // The shell links readline, which needs ncurses' terminal functions.
    'LIBS=-lncursesw',
  ],
  tests:: [
    'sqlite3 --version | grep -q "^3.40.1 "',
    'test "$(sqlite3 :memory: "create table t(x); insert into t values (40), (2); select sum(x) from t;")" = 42',
    'test "$(sqlite3 :memory: "select json_extract(\'{\\"a\\":[1,2]}\', \'$.a[1]\')")" = 2',
    'test "$(sqlite3 :memory: "create virtual table f using fts5(body); insert into f values (\'magnet linux\'); select count(*) from f where f match \'linux\'")" = 1',
  ],
  meta: {
    description: "SQL database engine library and the sqlite3 shell (Debian's source tarball of SQLite 3.40.1)",
    license: 'blessing',
    homepage: 'https://www.sqlite.org/',
  },
}
