// CPython 3.11.2 with its standard library complete: ssl and hashlib
// (OpenSSL 3.0), sqlite3, ctypes (libffi), lzma, bz2, zlib, readline,
// curses, venv and ensurepip (pip and setuptools wheels bundled with the
// release), decimal (bundled libmpdec) and pyexpat (bundled expat).
//
// Unlike the rest of the tree, `python3` is a glibc program, dynamically
// linked with the standard ELF interpreter (/lib64/ld-linux-x86-64.so.2).
// That is what makes binary wheels work: a manylinux wheel (numpy, ...)
// holds extension modules linked against glibc, loaded with dlopen into the
// interpreter, and pip only installs manylinux wheels when the running
// interpreter reports a glibc (a static musl python has no dlopen and no
// glibc). Everything else is linked in statically: OpenSSL, SQLite, libffi,
// xz, bzip2, zlib, readline and ncurses are the tree's glibc variants
// (`{ static: false }`, position-independent static libraries), so the
// program and its extension modules need nothing from the store at run
// time, only the host's C library (glibc 2.35 or newer: the symbol
// versions this build uses). The extension modules are shared objects
// in lib/python3.11/lib-dynload, as on any distribution.
//
// Reproducible .pyc: compiled at install time with SOURCE_DATE_EPOCH set,
// which makes them checked-hash .pyc (no source mtime inside); compileall
// runs in one process (`-j1` instead of Makefile's `-j0`: marshal output
// depends on which other files a worker compiled before) and with a fixed
// PYTHONHASHSEED (lib2to3's grammar pickles hold dicts built from sets).
local bzip2 = import 'bzip2.jsonnet';
local libffi = import 'libffi.jsonnet';
local ncurses = import 'ncurses.jsonnet';
local openssl = import 'openssl.jsonnet';
local readline = import 'readline.jsonnet';
local sqlite = import 'sqlite.jsonnet';
local tree = import 'tree.libsonnet';
local xz = import 'xz.jsonnet';
local zlib = import 'zlib.jsonnet';

tree.package {
  local pkg = self,
  static:: false,
  assert !pkg.static : 'python3: a static musl python cannot load binary wheels; the tree builds it with glibc',

  name: 'python3',
  version: '3.11.2',
  sources: [tree.source(
    'Python-3.11.2.tgz',
    '2411c74bda5bbcfcddaf4531f66d1adc73f247f529aee981b029513aefdbf849',
    [
      'https://www.python.org/ftp/python/3.11.2/Python-3.11.2.tgz',
      tree.debian('pool/main/p/python3.11', 'python3.11_3.11.2.orig.tar.gz'),
    ],
  )],
  local libs = [
    openssl { static: false },
    sqlite { static: false },
    readline { static: false },
    ncurses { static: false },
    libffi { static: false },
    xz { static: false },
    bzip2 { static: false },
    zlib { static: false },
  ],
  // openssl's `openssl` program makes the test CA of the TLS test.
  buildDeps+: libs,
  script:: |||
    tar -xf "$src/Python-3.11.2.tgz"
    cd Python-3.11.2
    # The module's flags are given, not probed with pkg-config (none in the
    # root): configure uses these variables when they are set.
    export LIBSQLITE3_CFLAGS=-I/deps/include LIBSQLITE3_LIBS="-L/deps/lib -lsqlite3 -lm"
    export LIBLZMA_CFLAGS=-I/deps/include LIBLZMA_LIBS="-L/deps/lib -llzma"
    export BZIP2_CFLAGS=-I/deps/include BZIP2_LIBS="-L/deps/lib -lbz2"
    export ZLIB_CFLAGS=-I/deps/include ZLIB_LIBS="-L/deps/lib -lz"
    export LIBFFI_CFLAGS=-I/deps/include LIBFFI_LIBS="-L/deps/lib -lffi"
    export CURSES_CFLAGS="-I/deps/include -D_XOPEN_SOURCE_EXTENDED" CURSES_LIBS="-L/deps/lib -lncursesw"
    export PANEL_CFLAGS="-I/deps/include -D_XOPEN_SOURCE_EXTENDED" PANEL_LIBS="-L/deps/lib -lpanelw"
    # LIBS: configure's link checks put LIBSQLITE3_LIBS before -lsqlite3,
    # so the static library's math functions need -lm after it.
    ./configure --prefix=/ CC="%(cc)s" CPPFLAGS="-I/deps/include" LDFLAGS="-L/deps/lib" LIBS=-lm \
      --with-openssl=/deps --with-openssl-rpath=no --with-readline=readline \
      --with-ensurepip=no --disable-test-modules --without-static-libpython \
      --with-lto=no --enable-ipv6
    make -j%(jobs)s
    # Every module the package promises must have been built: `make` only
    # lists the missing ones.
    ./python -c 'import ssl, _hashlib, sqlite3, ctypes, lzma, bz2, zlib, readline, curses, _curses_panel, _decimal, pyexpat'
    sed -i 's/-j0 -d/-j1 -d/' Makefile
    ! grep -n -- '-j0' Makefile
    # setup.py installs the extension modules under --root=$DESTDIR, but
    # distutils joins the root and a path starting with `//` (prefix /)
    # into that absolute path, outside DESTDIR: `/.//lib` keeps it relative.
    sed -i -e 's|--prefix=$(prefix)|--prefix=/.$(prefix)|' \
      -e 's|--install-scripts=$(BINDIR)|--install-scripts=/.$(BINDIR)|' \
      -e 's|--install-platlib=$(DESTSHARED)|--install-platlib=/.$(DESTSHARED)|' Makefile
    grep -q -- '--install-platlib=/.$(DESTSHARED)' Makefile
    PYTHONHASHSEED=0 make install DESTDIR="$out"
    ln -s python3 "$out/bin/python"
  ||| % { cc: pkg.cc, jobs: pkg.jobs },
  tests:: [
    'python3 --version | grep -qx "Python 3.11.2"',
    // Every extension module of the promise imports, hashlib through OpenSSL.
    |||
      python3 -c '
      import ssl, hashlib, _hashlib, sqlite3, ctypes, lzma, bz2, zlib, readline, curses, venv, ensurepip, _decimal, pyexpat
      assert ssl.OPENSSL_VERSION.startswith("OpenSSL 3.0.20"), ssl.OPENSSL_VERSION
      assert "sha3_256" in hashlib.algorithms_available and hashlib.sha256(b"magnet").hexdigest()
      assert hashlib.new("md5", usedforsecurity=False).name == "md5"
      assert sqlite3.connect(":memory:").execute("select sqlite_version()").fetchone()[0] == "3.40.1"
      assert ctypes.CDLL(None).strlen(b"magnet") == 6
      assert lzma.decompress(lzma.compress(b"m")) == bz2.decompress(bz2.compress(b"m")) == zlib.decompress(zlib.compress(b"m"))
      assert ensurepip.version()
      '
    |||,
    // A TLS handshake against a loopback server with a test CA: trusted
    // with the CA, refused without it.
    tree.testCA,
    tree.tlsServer,
    |||
      python3 -c '
      import ssl, urllib.request
      ctx = ssl.create_default_context(cafile="/tmp/tls/ca.pem")
      assert urllib.request.urlopen("https://localhost:4433/", context=ctx).read().startswith(b"<HTML>")
      try:
          urllib.request.urlopen("https://localhost:4433/", context=ssl.create_default_context(cafile="/tmp/tls/other-ca.pem"))
          raise SystemExit("verified a certificate of an unknown CA")
      except urllib.error.URLError as e:
          assert isinstance(e.reason, ssl.SSLCertVerificationError), e
      '
    |||,
    // A virtual environment with pip from the bundled wheel (offline).
    'cd /tmp && python3 -m venv venv && venv/bin/python -m pip --version | grep -q "^pip "',
  ],
  meta: {
    description: 'Python 3.11 interpreter and standard library (glibc build: loads manylinux wheels)',
    license: 'Python-2.0',
    homepage: 'https://www.python.org/',
  },
}
