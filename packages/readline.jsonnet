// GNU readline 8.2: line editing and history for interactive programs.
// Static libraries (libreadline.a, libhistory.a) and headers, for musl by
// default, glibc with `{ static: false }`. Programs linking it also link
// the tree's ncurses (`-lreadline -lncursesw`), which is a dependency of
// whatever uses readline.
local ncurses = import 'ncurses.jsonnet';
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'readline',
  version: '8.2',
  sources: [tree.gnuSource(
    'readline',
    '8.2',
    'tar.gz',
    '3feb7171f16a84ee82ca18a36d7b9be109a52c04f492a053331d7d1095007c35',
    'pool/main/r/readline',
    'readline_8.2.orig.tar.gz',
  )],
  buildDeps+: [ncurses { static: pkg.static }],
  runDeps: [ncurses { static: pkg.static }],
  // The release's install script is not executable.
  preConfigure:: 'chmod +x support/install.sh',
  configureFlags:: [
    'CPPFLAGS="%s"' % pkg.depCppflags,
    'LDFLAGS="%s"' % pkg.depLdflags,
    '--disable-shared',
    '--with-curses',
  ],
  postInstall:: |||
    rm -rf "$out/share/doc" "$out/share/info"
    cd /tmp
    cat >t.c <<'C'
    #include <stdio.h>
    #include <readline/readline.h>
    #include <readline/history.h>
    int main(void) {
      add_history("magnet");
      printf("%s %s\n", rl_library_version, history_get(history_base)->line);
      return 0;
    }
    C
  ||| + '%s -I"$out/include" %s t.c -o t -L"$out/lib" %s -lreadline -lhistory -lncursesw\n' % [pkg.cc, pkg.depCppflags, pkg.depLdflags] + |||
    test "$(./t)" = "8.2 magnet"
  |||,
  meta: {
    description: 'GNU readline: line editing and history library',
    license: 'GPL-3.0-or-later',
    homepage: 'https://tiswww.case.edu/php/chet/readline/rltop.html',
  },
}
