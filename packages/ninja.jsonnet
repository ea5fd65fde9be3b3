// ninja 1.11.1, the small build system CMake projects use, from the GitHub
// release archive (Debian's orig tarball is the same file).
//
// ninja is C++: it is compiled with Debian's g++ 12 (`tree.gxxSources`),
// and, as Debian has no C++ library for musl, linked statically against
// glibc (`g++ -static`): like the tree's other programs it runs on any
// x86-64 Linux from any path. It has no configure step; its own
// `configure.py --bootstrap` would need Python, so the file list of
// configure.py for Linux is compiled here directly.
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'ninja',
  version: '1.11.1',
  // Linked with glibc (no musl C++ library): not a musl program.
  static:: false,
  sources: [tree.source(
    'ninja-1.11.1.tar.gz',
    '31747ae633213f1eda3842686f83c2aa1412e0f5691d1c14dbbcc67fe7400cea',
    [
      'https://github.com/ninja-build/ninja/archive/refs/tags/v1.11.1.tar.gz#/ninja-1.11.1.tar.gz',
      tree.debian('pool/main/n/ninja-build', 'ninja-build_1.11.1.orig.tar.gz'),
    ],
  )] + tree.gxxSources,
  script:: tree.gxxSetup + |||
    cd /build
    tar -xzf "$src/ninja-1.11.1.tar.gz"
    cd ninja-1.11.1
    objs=
    for f in build build_log clean clparser debug_flags depfile_parser deps_log disk_interface \
             dyndep dyndep_parser edit_distance eval_env graph graphviz json lexer line_printer \
             manifest_parser metrics missing_deps parser state status string_piece_util util \
             version subprocess-posix ninja; do
      echo "src/$f.o: src/$f.cc; g++ -O2 -DNDEBUG -DUSE_PPOLL -fno-rtti -fno-exceptions -pipe -Wno-deprecated -c -o \$@ src/$f.cc" >>objs.mk
      objs="$objs src/$f.o"
    done
    printf 'ninja: %s\n\tg++ -static -o $@ %s\n' "$objs" "$objs" >>objs.mk
    make -f objs.mk ninja
    mkdir -p "$out/bin"
    cp ninja "$out/bin/ninja"
  |||,
  tests:: [
    'ninja --version | grep -qx 1.11.1',
    // Static: no program interpreter.
    '! objdump -p "$out/bin/ninja" | grep -q "^ *INTERP "',
    // A two-step build, then nothing to do, then a rebuild after a change.
    |||
      mkdir -p /tmp/nj && cd /tmp/nj
      printf 'rule cp\n  command = cp $in $out\nbuild b: cp a\nbuild c: cp b\ndefault c\n' >build.ninja
      echo one >a && ninja >/dev/null && test "$(cat c)" = one
      ninja | grep -q 'no work to do'
      sleep 1 && echo two >a && ninja >/dev/null && test "$(cat c)" = two
    |||,
  ],
  meta: {
    description: 'Small build system with a focus on speed',
    license: 'Apache-2.0',
    homepage: 'https://ninja-build.org/',
  },
}
