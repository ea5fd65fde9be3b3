// Helpers shared by the definitions of the package tree.
//
// A definition usually starts from `tree.package` (any build script) or
// `tree.autotools` (the GNU `./configure && make && make install` shape)
// and fills in name, version, sources and meta:
//
//   local tree = import 'tree.libsonnet';
//   tree.autotools {
//     name: 'sed', version: '4.9',
//     sources: [tree.gnuSource('sed', '4.9', 'tar.xz', 'SHA256', 'pool/main/s/sed', 'sed_4.9.orig.tar.xz')],
//     tests:: ['sed --version'],
//     meta: { ... },
//   }
//
// Parameters are hidden fields (`::`), so they are not part of the
// definition itself but everything computed from them is: a variant is one
// line, `pkgs.sed { static: false }`, and gets its own id because its build
// script differs.
//
// Build-time conventions (the build engine's, see doc/building.md):
// sources are read-only in `$src` (/fetch), the output is `$out` (/out)
// and is the install prefix as seen from inside (`--prefix=/`, `DESTDIR=$out`):
// programs in `$out/bin`, libraries in `$out/lib`, headers in
// `$out/include`, data in `$out/share`. Build dependencies other than the
// bootstrap root are merged, read-only, at /deps: /deps/bin is on PATH and
// the engine sets C_INCLUDE_PATH/LIBRARY_PATH (honoured by musl-gcc too);
// definitions also pass `-I/deps/include -L/deps/lib` explicitly
// (`depCppflags`, `depLdflags`) so that configure scripts see them.
local bootstrap = import 'bootstrap.jsonnet';
local magnets = import 'magnets.libsonnet';

{
  // The Debian archive as a mirror (resolved from the machine's apt sources
  // or magpkg's configuration, never written as a host name).
  debian(poolDir, origFile):: 'mirror://debian/' + poolDir + '/' + origFile,

  // The deterministic magnet of a source (`magpkg source magnets`), as a
  // list: empty for a source not yet in magnets.libsonnet.
  magnet(sha256):: if std.objectHas(magnets, sha256) then [magnets[sha256]] else [],

  // A source file known by its upstream URL(s) and, when Debian's orig
  // tarball is byte-identical to the upstream release, by its place in the
  // Debian archive as a further mirror; last, its magnet (any machine that
  // has the file serves it to the swarm with `magpkg seed`).
  source(filename, sha256, urls):: {
    filename: filename,
    sha256: sha256,
    urls: urls + $.magnet(sha256),
  },

  // A GNU release: the GNU ftp site, then Debian's identical orig tarball.
  gnuSource(name, version, ext, sha256, poolDir, origFile):: $.source(
    '%s-%s.%s' % [name, version, ext],
    sha256,
    [
      'https://ftp.gnu.org/gnu/%s/%s-%s.%s' % [name, name, version, ext],
      $.debian(poolDir, origFile),
    ],
  ),

  // musl-gcc compiles with -nostdinc, so code that includes <linux/*.h>
  // needs the kernel headers named explicitly. Not /usr/include itself:
  // glibc's headers there would clash with musl's. This step makes a
  // directory holding only the kernel's (from the bootstrap root's
  // linux-libc-dev); `kernelCflags` points the compiler at it.
  kernelHeaders:: |||
    mkdir -p /build/kernel-headers
    for d in linux asm-generic mtd; do ln -sfn "/usr/include/$d" "/build/kernel-headers/$d"; done
    ln -sfn /usr/include/x86_64-linux-gnu/asm /build/kernel-headers/asm
  |||,
  kernelCflags:: '-isystem /build/kernel-headers',

  // A C++ compiler for packages written in C++ (cmake, ninja): Debian 12's
  // g++ 12 and libstdc++ development packages, the C++ half of the
  // bootstrap root's gcc 12 (same version), pinned by sha256 as sources of
  // the package that needs them (like Go's bootstrap compiler), so the
  // bootstrap root and every other package's id stay as they are.
  // `gxxSetup` unpacks them into /build/gxx/usr and completes that tree
  // with links to the root's compiler (cc1, libgcc, crt files) and C
  // library headers, since a gcc driver outside /usr looks for everything
  // relative to its own location; then `g++`/`c++` are on PATH. glibc only:
  // Debian has no libstdc++ for musl, so C++ programs are linked with
  // `-static` against glibc (see doc/package-tree.md).
  gxxSources:: [
    $.source(f[0], f[1], ['mirror://debian/pool/main/g/gcc-12/' + f[0]])
    for f in [
      ['g++-12_12.2.0-14+deb12u1_amd64.deb', '68b182badae4ace7d472f1393c559d3532a95a2d70817498b10bb481d2627251'],
      ['libstdc++-12-dev_12.2.0-14+deb12u1_amd64.deb', 'd28def6c23630432b57cb38a4c2fd67a79d4e0484027386ca6e8d6005c3d7a73'],
    ]
  ],
  gxxSetup:: |||
    mkdir -p /build/gxx && (cd /build/gxx
      for d in "$src"/g++-12_*.deb "$src"/libstdc++-12-dev_*.deb; do
        ar x "$d" data.tar.xz && tar -xJf data.tar.xz && rm data.tar.xz
      done
      # What the packages do not have comes from the root, entry by entry.
      link_missing() {
        mkdir -p "/build/gxx$1"
        for e in "$1"/*; do
          [ -e "/build/gxx$e" ] || [ -L "/build/gxx$e" ] || ln -s "$e" "/build/gxx$e"
        done
      }
      link_missing /usr/lib/gcc/x86_64-linux-gnu/12
      link_missing /usr/include
      link_missing /usr/include/x86_64-linux-gnu
      link_missing /usr/lib
      mkdir -p bin
      ln -s ../usr/bin/x86_64-linux-gnu-g++-12 bin/g++
      ln -s ../usr/bin/x86_64-linux-gnu-g++-12 bin/c++
    )
    export PATH="/build/gxx/bin:$PATH"
    printf '#include <string>\n#include <iostream>\nint main() { std::string s("c++"); std::cout << s << std::endl; }\n' >/tmp/gxx-check.cc
    g++ -static -o /tmp/gxx-check /tmp/gxx-check.cc && test "$(/tmp/gxx-check)" = c++
  |||,

  // Defines `relocate_perl FILE...` for Perl programs installed with
  // `--prefix=/` (autoconf, automake): the paths of the prefix they were
  // given at build time ('//share/...', '//bin/...' as Perl string
  // literals) become paths relative to the file's own real location, so the
  // package works from wherever the store is. Each FILE is a path below
  // $out. A program of bin/ starts with `#!/bin/sh` and runs the perl found
  // on PATH (`perl -x` skips to the `#!perl` line), since the perl of the
  // build is not where the program runs and `#!/usr/bin/env` is not in
  // every sandbox.
  relocatePerl:: |||
    relocate_perl() {
      for f in "$@"; do
        up=$(dirname "$f" | sed -e 's#[^/][^/]*#..#g')
        here="do { require Cwd; require File::Basename; File::Basename::dirname(Cwd::abs_path(__FILE__)) } . '/$up"
        sed -i -E -e "s#'//(share|bin|lib)/#$here/\\1/#g" -e 's#exec [^ ]*perl -S "\$0"#exec perl -S "$0"#g' "$out/$f"
        case "$f" in bin/*)
          head -n 1 "$out/$f" | grep -q '^#!.*perl'
          { printf '#!/bin/sh\nexec perl -x "$0" "$@"\n#!perl\n'; tail -n +2 "$out/$f"; } >/tmp/relocate_perl
          cat /tmp/relocate_perl >"$out/$f"
          ;;
        esac
        if grep -n -e "'//" -e '/deps/' "$out/$f"; then echo "relocate_perl: $f still names the build's paths" >&2; exit 1; fi
      done
    }
  |||,

  // For `tests::` of TLS clients: a test CA and a certificate it signed for
  // localhost and 127.0.0.1 (in /tmp/tls: ca.pem, server.pem, server.key),
  // and a second CA that signed nothing (other-ca.pem). Needs an `openssl`
  // program on PATH (the package itself or the tree's openssl as a build
  // dependency).
  testCA:: |||
    mkdir -p /tmp/tls && (cd /tmp/tls && {
      printf '%s\n' '[req]' 'distinguished_name = dn' '[dn]' '[server]' \
        'subjectAltName = DNS:localhost,IP:127.0.0.1' 'basicConstraints = CA:FALSE' >tls.cnf
      for ca in ca other-ca; do
        openssl req -x509 -config tls.cnf -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
          -keyout $ca.key -out $ca.pem -days 3650 -subj "/CN=magpkg $ca" \
          -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign 2>/dev/null
      done
      openssl req -new -config tls.cnf -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 3650 \
        -extfile tls.cnf -extensions server -out server.pem 2>/dev/null
    })
  |||,
  // An HTTPS server on 127.0.0.1:4433 with that certificate (`openssl
  // s_server -www`: a GET returns a status page starting with `<HTML>`),
  // left running in the background; returns once it accepts connections.
  tlsServer:: |||
    openssl s_server -quiet -accept 127.0.0.1:4433 -cert /tmp/tls/server.pem -key /tmp/tls/server.key -www >/dev/null 2>&1 &
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      echo Q | openssl s_client -connect 127.0.0.1:4433 >/dev/null 2>&1 && break
      sleep 0.5
    done
  |||,

  // Shell steps appended to every build (they only look at $out).
  local finish = |||
    # Absolute symlinks into the output (made by `ln -s $(PREFIX)/...`)
    # would point outside the store once installed: make them relative.
    find "$out" -type l | while read -r l; do
      t=$(readlink "$l")
      case "$t" in "$out"/*) ;; *) continue ;; esac
      from=${l%/*} up=
      while [ "${t#"$from"/}" = "$t" ]; do from=${from%/*} up="../$up"; done
      ln -sfn "$up${t#"$from"/}" "$l"
    done
    # libtool archives name the build-time libdir (//lib): wrong once the
    # package is in the store, and not needed to link with the .a/.so.
    find "$out" -name '*.la' -type f | while read -r f; do rm -f "$f"; done
    # gnulib installs a charset table that belongs to no package.
    rm -f "$out/lib/charset.alias"
    rmdir "$out/lib" 2>/dev/null || true
  |||,

  // Any package built by a script. `script` is the package-specific part.
  package:: {
    local pkg = self,
    // Link programs statically against musl (they then run on any Linux,
    // from any path); `false` builds with glibc, dynamically.
    static:: true,
    // Strip installed programs (static binaries with debug info are large).
    strip:: true,
    // Run the package's test suite (slow; off by default).
    check:: false,
    // Shell commands run after the install with $out/bin first on PATH:
    // each must succeed (a quick check that the programs work). Every ELF
    // file of $out/bin is also checked to have no interpreter when static.
    tests:: [],
    // `--static`, not `-static`: libtool takes a `-static` on its command
    // line (where CC ends up) as its own option and drops it, silently
    // linking the programs dynamically against musl; gcc reads both alike.
    // The glibc variant is position-independent code throughout, so its
    // static libraries can go into shared objects (Python's extension
    // modules link libssl.a, libz.a, libffi.a...).
    cc:: if pkg.static then 'musl-gcc --static' else 'gcc -fPIC',
    // Flags pointing the compiler at the merged build dependencies.
    depCppflags:: '-I/deps/include',
    depLdflags:: '-L/deps/lib',
    jobs:: '"${MAGPKG_BUILD_CORES:-1}"',
    script:: error 'a package needs a `script`',

    buildDeps: [bootstrap],
    build: pkg.script + finish + |||
      for f in "$out"/bin/* "$out"/sbin/*; do
        # (objdump: readelf does not run in the bootstrap root, which lacks libctf-nobfd.)
        [ -f "$f" ] && [ ! -L "$f" ] && objdump -f "$f" >/dev/null 2>&1 || continue
        %(strip)s
        %(assertStatic)s
      done
    ||| % {
      strip: if pkg.strip then 'strip "$f"' else ':',
      assertStatic: if pkg.static then |||
        if objdump -p "$f" | grep -q "^ *INTERP "; then
          echo "magpkg tree: $f is dynamically linked" >&2; exit 1
        fi
      ||| else ':',
    } + (if pkg.tests == [] then '' else
           '(\n  PATH="$out/bin:$PATH"\n' + std.join('', ['  %s\n' % t for t in pkg.tests]) + ')\n'),
  },

  // `./configure --prefix=/ && make && make install DESTDIR=$out`.
  autotools:: $.package {
    local pkg = self,
    // The tarball (default: the first source) and the directory it holds.
    tarball:: pkg.sources[0].filename,
    dir:: pkg.name + '-' + pkg.version,
    // Extra ./configure arguments (already shell-quoted).
    configureFlags:: [],
    // Steps before ./configure (in the source directory) and after install.
    preConfigure:: '',
    postInstall:: '',
    makeFlags:: [],
    script:: |||
      tar -xf "$src/%(tarball)s"
      cd %(dir)s
      %(preConfigure)s
      ./configure --prefix=/ --disable-nls CC="%(cc)s" %(flags)s
      make -j%(jobs)s %(makeFlags)s
      %(check)s
      make install DESTDIR="$out" %(makeFlags)s
      %(postInstall)s
    ||| % {
      tarball: pkg.tarball,
      dir: pkg.dir,
      preConfigure: pkg.preConfigure,
      cc: pkg.cc,
      flags: std.join(' ', pkg.configureFlags),
      jobs: pkg.jobs,
      makeFlags: std.join(' ', pkg.makeFlags),
      check: if pkg.check then 'make -j%s check %s' % [pkg.jobs, std.join(' ', pkg.makeFlags)] else '',
      postInstall: pkg.postInstall,
    },
  },
}
