// OpenSSL 3.0 (LTS): libssl.a, libcrypto.a, headers, pkg-config files and
// the `openssl` program.
//
// Static libraries only (`no-shared`, `no-module`: the legacy provider and
// engines are inside libcrypto), compiled for musl by default; `{ static:
// false }` compiles them for glibc, position-independent, so that they can
// be linked into shared objects (Python's `_ssl` and `_hashlib` modules).
//
// Certificates and configuration: OPENSSLDIR is `/etc/ssl`, the host's,
// so programs linked with this libcrypto verify peers against the host's
// CA certificates (`/etc/ssl/certs`, hashed, on Debian, Ubuntu, Alpine,
// Arch; `/etc/ssl/cert.pem` on Alpine, Arch, macOS-like layouts) and read
// the host's `openssl.cnf`. `SSL_CERT_FILE` / `SSL_CERT_DIR` override both
// (the Fedora/RHEL bundle is `/etc/pki/tls/certs/ca-bundle.crt`). The tree
// has no CA package of its own: which roots to trust is the host's choice,
// and the host keeps them current.
//
// Configure is a Perl program: the tree's perl is a build dependency.
local perl = import 'perl.jsonnet';
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'openssl',
  version: '3.0.20',
  sources: [tree.source(
    'openssl-3.0.20.tar.gz',
    'c80a01dfc70ece4dc21168932c37739042d404d46ccc81a5986dd75314ecda6f',
    [
      'https://github.com/openssl/openssl/releases/download/openssl-3.0.20/openssl-3.0.20.tar.gz',
      tree.debian('pool/main/o/openssl', 'openssl_3.0.20.orig.tar.gz'),
    ],
  )],
  buildDeps+: [perl],
  script:: |||
    tar -xf "$src/openssl-3.0.20.tar.gz"
    cd openssl-3.0.20
    %(kernelHeaders)s
    perl ./Configure linux-x86_64 --prefix=/ --openssldir=/etc/ssl --libdir=lib \
      no-shared no-module no-tests no-afalgeng %(flags)s \
      CC="%(cc)s"
    # build_sw, not build_libs build_programs: each of those runs its own
    # sub-make, and two at once compile the same objects.
    make -j%(jobs)s build_sw
    make install_sw install_ssldirs DESTDIR="$out"
    # The sample configuration installed into $out/etc/ssl is not used
    # (OPENSSLDIR is the host's /etc/ssl); keep it as documentation.
    rm -f "$out/bin/c_rehash"
  ||| % {
    kernelHeaders: if pkg.static then tree.kernelHeaders else '',
    // musl has no makecontext/swapcontext (the ASYNC jobs' fibres).
    flags: if pkg.static then 'no-async ' + tree.kernelCflags else '',
    cc: pkg.cc,
    jobs: pkg.jobs,
  },
  tests:: [
    'openssl version | grep -q "^OpenSSL 3.0.20 "',
    'test "$(echo -n magnet | openssl dgst -sha256 -r | cut -d" " -f1)" = "$(echo -n magnet | sha256sum | cut -d" " -f1)"',
    // A TLS handshake on loopback, the client verifying the server's
    // certificate against a CA made here.
    tree.testCA,
    tree.tlsServer,
    'echo Q | openssl s_client -connect 127.0.0.1:4433 -CAfile /tmp/tls/ca.pem -verify_return_error -verify_hostname localhost 2>&1 | grep -q "Verify return code: 0 (ok)"',
    // ...and refusing a server whose CA it does not trust.
    '! echo Q | openssl s_client -connect 127.0.0.1:4433 -CAfile /tmp/tls/other-ca.pem -verify_return_error >/dev/null 2>&1',
  ],
  meta: {
    description: 'TLS and cryptography library (OpenSSL 3.0 LTS) and the openssl program',
    license: 'Apache-2.0',
    homepage: 'https://www.openssl.org/',
  },
}
