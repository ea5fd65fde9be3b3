// GNU binutils 2.40 (ld, as, ar, nm, objdump, readelf, strip...), from
// Debian's orig tarball (`binutils_2.40.orig.tar.xz`).
//
// Debian's file is not the GNU release file (`binutils-2.40.tar.xz` has
// another sha256, 0f8a4c27...: Debian's is a tarball of the 2.40 sources
// its maintainer made), so the Debian archive is its only origin and the
// version says so.
//
// Static musl programs, for x86-64 Linux only. Left out: gold and gprofng
// (C++; the bootstrap root has no C++ compiler), plugins (dlopen),
// debuginfod, zstd-compressed sections (the bundled zlib is used for zlib
// ones), translations. Archives are deterministic by default (`ar` writes
// no dates, owners or modes: `--enable-deterministic-archives`), which
// makes static libraries built with it reproducible.
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'binutils',
  version: '2.40+debian',
  sources: [tree.source(
    'binutils_2.40.orig.tar.xz',
    'd78c2d2eb24a9be1e02f8854cb1bd435556d7f584fb6bfb6b07e6527d43fc41d',
    [tree.debian('pool/main/b/binutils', 'binutils_2.40.orig.tar.xz')],
  )],
  dir:: 'binutils-2.40',
  configureFlags:: [
    '--build=x86_64-pc-linux-gnu',
    '--host=x86_64-pc-linux-gnu',
    '--target=x86_64-pc-linux-gnu',
    '--disable-gold',
    '--disable-gprofng',
    '--disable-plugins',
    '--disable-shared',
    '--disable-werror',
    '--enable-deterministic-archives',
    '--without-zstd',
    '--without-debuginfod',
    '--with-system-zlib=no',
  ],
  // The info manuals are in the tarball; never regenerate them.
  makeFlags:: ['MAKEINFO=true'],
  postInstall:: |||
    cd "$out"
    rm -rf share/info
    # The target directory holds a second copy of the main tools (hard
    # links): make them symlinks to bin/.
    for f in x86_64-pc-linux-gnu/bin/*; do
      ln -sfn "../../bin/${f##*/}" "$f"
    done
  |||,
  tests:: [
    'ld --version | grep -q "^GNU ld (GNU Binutils) 2.40"',
    'as --version | grep -q "^GNU assembler (GNU Binutils) 2.40"',
    // A program assembled and linked with the new as and ld (no C library:
    // exit(42) by system call), an archive made with ar and read back.
    |||
      mkdir -p /tmp/bu && cd /tmp/bu
      printf '.globl _start\n_start:\n  mov $60, %%eax\n  mov $42, %%edi\n  syscall\n' >exit.s
      as -o exit.o exit.s && ld -static -o exit exit.o
      set +e; ./exit; st=$?; set -e; test "$st" = 42
      ar rcs libexit.a exit.o && test "$(ar t libexit.a)" = exit.o
      nm libexit.a | grep -q ' T _start$'
      objdump -d exit | grep -q 'syscall'
      readelf -h exit | grep -q 'EXEC (Executable file)'
    |||,
  ],
  meta: {
    description: "Assembler, linker and binary tools (Debian's tarball of GNU binutils 2.40)",
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/binutils/',
  },
}
