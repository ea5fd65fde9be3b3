// GCC 12.2 (C and C++) with binutils 2.40 and musl 1.2.3: a complete C/C++
// toolchain for x86-64 Linux that makes static musl programs, like every
// program of the tree, and needs nothing of the host.
//
// One package, three parts, all built from source here:
//   - musl (the C library), installed into the toolchain's own sysroot
//     (`sysroot/usr/include`, `sysroot/usr/lib`), with the Linux kernel's
//     UAPI headers (`<linux/*.h>`, `<asm/*.h>`) from the bootstrap root;
//   - binutils for the target `x86_64-linux-musl`, configured with that
//     sysroot: `ld` searches the sysroot's directories only, never the
//     host's /lib and /usr/lib;
//   - gcc for the same target, with the same sysroot, C and C++ (libstdc++
//     for musl, which Debian does not have), libgomp (OpenMP) and
//     libatomic.
// Both the sysroot and the tools are found relative to the running program
// (GCC's and ld's relocatable sysroot: the sysroot is under the configured
// prefix), so the store path is never written into the package and it works
// from wherever the store is, through the profile's symlinks too.
//
// Programs are linked statically by default (a driver spec adds `-static`
// unless `-shared` is given): `cc hello.c && ./a.out` gives a program that
// runs on any x86-64 Linux, from any path, with nothing installed. musl is
// built without its shared library, so there is no dynamic musl program to
// make by mistake (a host has no /lib/ld-musl-x86_64.so.1).
//
// `gcc { libc: 'glibc' }` is the same toolchain for x86_64-linux-gnu with
// Debian 12's glibc 2.36 as its sysroot: programs linked dynamically
// against the host's glibc (through the usual interpreter), libstdc++ and
// libgcc linked in. The choice is explained in doc/package-tree.md.
//
// How it is built, and why (2 cores):
//   - `--disable-bootstrap`: the compiler is built once, by Debian's gcc and
//     g++ 12 of the bootstrap root and `tree.gxxSources` (the same GCC
//     version), instead of three times by itself.
//   - The compiler's own programs (cc1, cc1plus, collect2, the driver...)
//     are built with that glibc g++ and linked `-static`: no interpreter,
//     nothing needed at run time. (GCC is C++; a musl C++ compiler to build
//     it with is what this package makes.)
//   - The configuration is "native" for the triple x86_64-linux-musl
//     (build = host = target), so the target libraries are compiled by the
//     new compiler itself, which runs on the build machine like any static
//     program.
//   - Left out to keep it affordable and static: LTO (its linker plugin is
//     a shared object), plugins, the sanitizers (not supported on musl),
//     libssp (musl has it), libitm, libvtv, libcc1, precompiled libstdc++
//     headers, graphite (isl), translations, the info manuals.
//   - gmp, mpfr and mpc are built in GCC's tree (GCC links them statically).
local bootstrap = import 'bootstrap.jsonnet';
local tree = import 'tree.libsonnet';

local deb(dir, file, sha256) = tree.source(file, sha256, [tree.debian(dir, file)]);

// The configured prefix. It is never used at run time (everything is found
// relative to the programs), and it is a path no host has, so GCC's
// fallbacks to its absolute configured paths find nothing.
local prefix = '/magpkg/gcc';

// The glibc variant's C library: Debian 12's glibc 2.36, the bootstrap
// root's own packages (the same pins).
local glibcDebs = [
  s
  for s in bootstrap.sources
  if std.startsWith(s.filename, 'libc6_') || std.startsWith(s.filename, 'libc6-dev_')
     || std.startsWith(s.filename, 'linux-libc-dev_')
];

local muslSysroot = |||
    # 1. musl, static only, into the sysroot (built by the root's gcc: musl
    # compiles itself freestanding, with -nostdinc).
    tar -xzf "$src/musl-1.2.3.tar.gz"
    (cd musl-1.2.3
      ./configure --prefix=/usr --syslibdir=/lib --disable-shared --disable-wrapper CC=gcc
      make -j%(jobs)s
      make install DESTDIR="$SYSROOT")
    # The kernel's UAPI headers, copied (not linked: the sysroot is shipped).
    for d in linux asm-generic mtd; do cp -a "/usr/include/$d" "$SYSROOT/usr/include/$d"; done
    cp -a /usr/include/x86_64-linux-gnu/asm "$SYSROOT/usr/include/asm"
|||;
// The glibc variant's sysroot: Debian's glibc packages unpacked, their
// multiarch directories (x86_64-linux-gnu) flattened into the usual ones,
// and the absolute paths of their links and linker scripts (libc.so...)
// made paths inside the sysroot.
local glibcSysroot = |||
  # 1. glibc 2.36 and the kernel's UAPI headers (Debian 12's libc6,
  # libc6-dev and linux-libc-dev) into the sysroot.
  mkdir -p "$SYSROOT" && (cd "$SYSROOT"
    for d in "$src"/libc6_*.deb "$src"/libc6-dev_*.deb "$src"/linux-libc-dev_*.deb; do
      ar x "$d" data.tar.xz && tar -xJf data.tar.xz && rm data.tar.xz
    done
    rm -rf etc sbin usr/bin usr/sbin usr/share usr/libexec usr/lib/x86_64-linux-gnu/gconv var
    for d in usr/include lib usr/lib; do
      mkdir -p "$d" && cp -a "$d/x86_64-linux-gnu/." "$d/" && rm -rf "$d/x86_64-linux-gnu"
    done
    find . -type l | while read -r l; do
      t=$(readlink "$l")
      case "$t" in /*) ;; *) continue ;; esac
      up=$(dirname "${l#./}" | sed -e 's#[^/][^/]*#..#g')
      ln -sfn "$up$(echo "$t" | sed -e 's#/x86_64-linux-gnu##')" "$l"
    done
    for f in usr/lib/*.so; do
      if [ -f "$f" ] && [ ! -L "$f" ] && grep -q 'GNU ld script' "$f"; then
        sed -i -e 's#/x86_64-linux-gnu##g' "$f"
      fi
    done
    test -e lib64/ld-linux-x86-64.so.2 && test -e usr/include/bits/types.h && test -e usr/include/asm/unistd.h)
|||;
tree.package {
  local pkg = self,
  // The C library programs are built against: 'musl' (static programs,
  // the default) or 'glibc' (programs linked dynamically against the
  // host's glibc, 2.34 or newer; see doc/package-tree.md).
  libc:: 'musl',
  local musl = pkg.libc == 'musl',
  assert pkg.libc == 'musl' || pkg.libc == 'glibc' : "gcc's libc is 'musl' or 'glibc', not " + pkg.libc,
  local triple = if musl then 'x86_64-linux-musl' else 'x86_64-linux-gnu',
  name: 'gcc',
  version: '12.2.0+dfsg',
  sources: [
    // Debian's orig tarball wraps the sources: gcc-12.2.0-dfsg.tar.xz (GCC
    // without the GFDL-covered manuals that Debian cannot ship in main),
    // beside newlib and gm2 (not used). Not a GNU release file, so the
    // Debian archive is its only origin and the version says `+dfsg`.
    deb('pool/main/g/gcc-12', 'gcc-12_12.2.0.orig.tar.gz', 'b8298be16aeeb96a889c6afed0a8e2241b47452e89cc81fe65ea849d5c740fcb'),
    // gmp's orig tarball is a dfsg repack (Debian only); mpfr's, mpc's and
    // musl's are byte-identical to the upstream releases.
    deb('pool/main/g/gmp', 'gmp_6.2.1+dfsg1.orig.tar.xz', '471b9e463e04362a0124f215afc5f0a4b99caedeeb62634c61bbc12988efa64c'),
    tree.source(
      'mpfr-4.2.0.tar.xz',
      '06a378df13501248c1b2db5aa977a2c8126ae849a9d9b7be2546fb4a9c26d993',
      ['https://ftp.gnu.org/gnu/mpfr/mpfr-4.2.0.tar.xz', tree.debian('pool/main/m/mpfr4', 'mpfr4_4.2.0.orig.tar.xz')],
    ),
    tree.source(
      'mpc-1.3.1.tar.gz',
      'ab642492f5cf882b74aa0cb730cd410a81edcdbec895183ce930e706c1c759b8',
      ['https://ftp.gnu.org/gnu/mpc/mpc-1.3.1.tar.gz', tree.debian('pool/main/m/mpclib3', 'mpclib3_1.3.1.orig.tar.gz')],
    ),
  ] + (if musl then [tree.source(
    'musl-1.2.3.tar.gz',
    '7d5b0b6062521e4627e099e4c9dc8248d32a30285e959b7eecaa780cf8cfd4a4',
    ['https://musl.libc.org/releases/musl-1.2.3.tar.gz', tree.debian('pool/main/m/musl', 'musl_1.2.3.orig.tar.gz')],
  )] else []) + [
    // The same binutils source as the tree's `binutils` package.
    deb('pool/main/b/binutils', 'binutils_2.40.orig.tar.xz', 'd78c2d2eb24a9be1e02f8854cb1bd435556d7f584fb6bfb6b07e6527d43fc41d'),
  ] + tree.gxxSources + (if musl then [] else glibcDebs),

  // The driver, cc1... are static glibc programs (no interpreter): the
  // tree's check that bin/ has no dynamically linked program applies.
  static:: true,

  script:: tree.gxxSetup + |||
    P=%(prefix)s
    T=%(triple)s
    D=/build/dest
    SYSROOT=$D$P/sysroot
    cd /build

    %(sysroot)s
    # 2. binutils for the target, with the sysroot, as static musl programs
    # (like the tree's binutils). Installed first: GCC's configure checks
    # the assembler and linker it will use.
    tar -xJf "$src/binutils_2.40.orig.tar.xz"
    mkdir binutils-build && (cd binutils-build
      ../binutils-2.40/configure --prefix=$P --build=$T --host=$T --target=$T \
        --with-sysroot=$P/sysroot --disable-nls --disable-gold --disable-gprofng \
        --disable-plugins --disable-shared --disable-werror --enable-deterministic-archives \
        --without-zstd --without-debuginfod --with-system-zlib=no CC="musl-gcc --static"
      make -j%(jobs)s MAKEINFO=true
      make install-strip DESTDIR=$D MAKEINFO=true)
    export PATH="$D$P/bin:$PATH"
    ld --version | grep -q 'GNU ld (GNU Binutils) 2.40'

    # 3. gcc, with gmp, mpfr and mpc in its tree.
    tar -xzf "$src/gcc-12_12.2.0.orig.tar.gz" gcc-12-12.2.0/gcc-12.2.0-dfsg.tar.xz
    tar -xJf gcc-12-12.2.0/gcc-12.2.0-dfsg.tar.xz
    rm -rf gcc-12-12.2.0
    tar -xJf "$src/gmp_6.2.1+dfsg1.orig.tar.xz"
    tar -xJf "$src/mpfr-4.2.0.tar.xz"
    tar -xzf "$src/mpc-1.3.1.tar.gz"
    # Debian's gmp repack has no doc/ (the GFDL manual): configure must not
    # look for its Makefile.
    sed -i 's| doc/Makefile||' gmp-6.2.1/configure
    sed -i 's|^SUBDIRS = \(.*\) doc$|SUBDIRS = \1|' gmp-6.2.1/Makefile.in
    mv gmp-6.2.1 gcc-12.2.0/gmp && mv mpfr-4.2.0 gcc-12.2.0/mpfr && mv mpc-1.3.1 gcc-12.2.0/mpc
    mkdir gcc-build && cd gcc-build
    ../gcc-12.2.0/configure --prefix=$P --build=$T --host=$T --target=$T \
      --with-sysroot=$P/sysroot --with-build-sysroot="$SYSROOT" \
      %(specs)s--enable-languages=c,c++ --disable-bootstrap --disable-multilib --disable-nls \
      --disable-shared --disable-lto --disable-plugin --disable-libsanitizer --disable-libssp \
      --disable-libitm --disable-libvtv --disable-libcc1 --disable-libstdcxx-pch \
      --without-isl --disable-werror --enable-threads=posix --enable-__cxa_atexit \
      --with-gnu-as --with-gnu-ld --with-pkgversion='magpkg gcc 12.2.0+dfsg' \
      CC=gcc CXX=g++ CFLAGS=-O2 CXXFLAGS=-O2 LDFLAGS=-static
    make -j%(jobs)s MAKEINFO=true
    # The install would check the target hooks' documentation
    # (doc/tm.texi), which is one of the GFDL texts the dfsg tarball lacks:
    # mark that check done (it only concerns the manual).
    touch gcc/s-tm-texi
    make install-strip DESTDIR=$D MAKEINFO=true

    # The prefix's contents are the package.
    cp -a "$D$P/." "$out/"
    cd "$out"
    rm -rf share/info share/locale
    # `make install` made hard links between a program's names (g++ and
    # c++, ld and ld.bfd, the target-prefixed names, the tool directory's
    # copies of binutils): the first name in sorted order stays a file, the
    # others become symlinks to it (absolute here; made relative below).
    : >/tmp/inodes
    find . -type f -links +1 | LC_ALL=C sort | while read -r f; do
      i=$(stat -c %%i "$f")
      first=$(awk -v i="$i" '$1 == i { print $2; exit }' /tmp/inodes)
      if [ -n "$first" ]; then ln -sfn "$out/${first#./}" "$f"; else echo "$i $f" >>/tmp/inodes; fi
    done
    ln -sfn gcc bin/cc
    # gcc's install leaves build-time notes that name the build directory.
    find . -name '*.la' -exec rm -f {} +
    # binutils' own libraries and their headers (libbfd, libopcodes,
    # libctf) are for programs built with binutils, not for a compiler's
    # users: in include/ they would be on every compile's path.
    rm -rf lib/libbfd.a lib/libopcodes.a lib/libctf.a lib/libctf-nobfd.a lib/bfd-plugins \
      include/ansidecl.h include/bfd.h include/bfdlink.h include/ctf-api.h include/ctf.h \
      include/diagnostics.h include/dis-asm.h include/symcat.h
    # Most man pages are empty or placeholders: the dfsg tarball's GCC ones
    # are (they are made from the GFDL manual), and binutils' need pod2man,
    # which the root lacks; ld's and gprof's come made in the tarball.
    for f in share/man/*/*; do
      [ "$(wc -c <"$f")" -ge 100 ] || rm -f "$f"
    done
    for d in share/man/man1 share/man/man7 share/man; do rmdir "$d" 2>/dev/null || true; done
    rm -rf libexec/gcc/$T/12.2.0/install-tools lib/gcc/$T/12.2.0/install-tools
  ||| % {
    prefix: prefix,
    triple: triple,
    jobs: pkg.jobs,
    sysroot: (if musl then muslSysroot else glibcSysroot) % { jobs: pkg.jobs },
    // Static programs by default: the driver adds -static unless -shared.
    specs: if musl then "--with-specs='%{!shared:%{!static:-static}}' \\\n  " else '',
  },

  // Tests both variants run: a C++ program (its variant-specific checks
  // follow it), and OpenMP with an archive made by the package's ar.
  local cxxTest = |||
    cd /tmp/cc
    cat >hello.cc <<'EOF'
    #include <iostream>
    #include <map>
    #include <stdexcept>
    #include <string>
    #include <thread>
    int main() {
      std::map<std::string, int> m{{"c++", 17}};
      int t = 0;
      std::thread th([&] { t = m["c++"]; });
      th.join();
      try { throw std::runtime_error("caught"); }
      catch (const std::exception &e) { std::cout << e.what() << " " << t << std::endl; }
    }
    EOF
    c++ -std=c++17 -O2 -o hello-cxx hello.cc && test "$(./hello-cxx)" = "caught 17"
  |||,
  local ompTest = |||
    cd /tmp/cc
    printf '#include <omp.h>\n#include <stdio.h>\nint main(void) { int n = 0;\n#pragma omp parallel reduction(+:n) num_threads(3)\nn += 1;\nprintf("%%d\\n", n); return 0; }\n' >omp.c
    gcc -fopenmp omp.c -o omp && test "$(./omp)" = 3
    printf 'int seven(void) { return 7; }\n' >seven.c && printf 'int seven(void);\nint main(void) { return seven(); }\n' >main.c
    cc -c seven.c && ar rcs libseven.a seven.o && cc main.c -L. -lseven -o seven
    set +e; ./seven; st=$?; set -e; test "$st" = 7
  |||,
  local commonTests = [
    'gcc --version | grep -q "^gcc (magpkg gcc 12.2.0+dfsg) 12.2.0"',
    'cc --version | grep -q "12.2.0" && c++ --version | grep -q "12.2.0"',
    // The sysroot, the assembler and the linker are the package's own,
    // found relative to the driver.
    'test "$(cd "$(cc -print-sysroot)" && pwd -P)" = "$(cd "$out/sysroot" && pwd -P)"',
    'case "$(cc -print-prog-name=ld)" in "$out"/*) ;; *) exit 1 ;; esac',
    'case "$(cc -print-prog-name=as)" in "$out"/*) ;; *) exit 1 ;; esac',
    // ld searches the sysroot only (`=` is the sysroot), never the host's.
    '! ld --verbose | grep SEARCH_DIR | tr ";" "\\n" | grep -v "^ *$" | grep -v "SEARCH_DIR(\\"=" ',
  ],
  tests:: if musl then commonTests + [
    // C: a static musl program, also from another directory and with the
    // kernel headers; glibc headers are not visible.
    |||
      mkdir -p /tmp/cc && cd /tmp/cc
      printf '#include <stdio.h>\n#include <linux/limits.h>\nint main(void) { printf("hello %%d\\n", PATH_MAX); return 0; }\n' >hello.c
      cc -O2 hello.c && test "$(./a.out)" = "hello 4096"
      ! objdump -p a.out | grep -q "^ *INTERP "
      objdump -p a.out | grep -q "file format elf64-x86-64"
      mkdir -p /tmp/elsewhere && cp a.out /tmp/elsewhere/ && (cd / && /tmp/elsewhere/a.out) | grep -qx "hello 4096"
      printf '#include <gnu/libc-version.h>\n' >glibc.c
      ! cc -c glibc.c 2>/dev/null
    |||,
    // C++ with the standard library, exceptions and threads.
    cxxTest + |||
      ! objdump -p hello-cxx | grep -q "^ *INTERP "
    |||,
    ompTest,
  ] else commonTests + [
    // C: a program linked dynamically against glibc (the system's
    // interpreter, /lib64/ld-linux-x86-64.so.2), glibc's own headers.
    |||
      mkdir -p /tmp/cc && cd /tmp/cc
      printf '#include <stdio.h>\n#include <linux/limits.h>\n#include <gnu/libc-version.h>\nint main(void) { printf("hello %%d %%s\\n", PATH_MAX, gnu_get_libc_version()); return 0; }\n' >hello.c
      cc -O2 hello.c && test "$(./a.out)" = "hello 4096 2.36"
      objdump -s -j .interp a.out | grep -q '/lib64/ld-linux-'
      test "$(objdump -p a.out | awk '$1 == "NEEDED" { print $2 }')" = libc.so.6
    |||,
    // C++ with the standard library, exceptions and threads.
    cxxTest + |||
      # libstdc++ and libgcc are linked in: only glibc is needed.
      test "$(objdump -p hello-cxx | awk '$1 == "NEEDED" { print $2 }' | sort | tr '\n' ' ')" = "libc.so.6 libm.so.6 "
    |||,
    ompTest,
  ],
  meta: {
    description: if musl then 'GNU C and C++ compilers with binutils and musl: static programs for x86-64 Linux' else 'GNU C and C++ compilers with binutils and glibc 2.36: programs for x86-64 Linux with glibc',
    license: 'GPL-3.0-or-later WITH GCC-exception-3.1 AND MIT',
    homepage: 'https://gcc.gnu.org/',
  },
}
