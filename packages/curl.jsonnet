// curl 7.88.1: the `curl` program and libcurl (static), with TLS through the
// tree's OpenSSL and compression through its zlib.
//
// CA certificates: OpenSSL's defaults (`--with-ca-fallback`), i.e. the
// host's `/etc/ssl/certs` directory and `/etc/ssl/cert.pem` (see
// openssl.jsonnet); `SSL_CERT_FILE`/`SSL_CERT_DIR`, `CURL_CA_BUNDLE` and
// `--cacert` override them. No path of the build machine is compiled in.
local openssl = import 'openssl.jsonnet';
local tree = import 'tree.libsonnet';
local zlib = import 'zlib.jsonnet';

tree.autotools {
  local pkg = self,
  name: 'curl',
  version: '7.88.1',
  sources: [tree.source(
    'curl-7.88.1.tar.gz',
    'cdb38b72e36bc5d33d5b8810f8018ece1baa29a8f215b4495e495ded82bbf3c7',
    [
      'https://curl.se/download/curl-7.88.1.tar.gz',
      tree.debian('pool/main/c/curl', 'curl_7.88.1.orig.tar.gz'),
    ],
  )],
  buildDeps+: [openssl { static: pkg.static }, zlib { static: pkg.static }],
  preConfigure:: if pkg.static then tree.kernelHeaders else '',
  configureFlags:: [
    'CPPFLAGS="%s %s"' % [pkg.depCppflags, if pkg.static then tree.kernelCflags else ''],
    'LDFLAGS="%s"' % pkg.depLdflags,
    '--disable-shared',
    '--with-openssl=/deps',
    '--with-zlib=/deps',
    '--without-ca-bundle',
    '--without-ca-path',
    '--with-ca-fallback',
    '--without-libpsl',
    '--without-brotli',
    '--without-zstd',
    '--without-libidn2',
    '--without-nghttp2',
    '--without-libssh2',
    '--disable-ldap',
    '--disable-manual',
  ],
  postInstall:: 'rm -rf "$out/share/aclocal"',
  tests:: [
    'curl --version | grep -q "^curl 7.88.1 .* OpenSSL/3.0.20 zlib/"',
    'curl --version | grep "^Protocols:" | grep -qw https',
    'echo magnet >/tmp/f && test "$(curl -s file:///tmp/f)" = magnet',
    // A TLS handshake against a loopback server with a test CA.
    tree.testCA,
    tree.tlsServer,
    'curl -sS --cacert /tmp/tls/ca.pem https://localhost:4433/ | grep -q "^<HTML>"',
    '! curl -sS --cacert /tmp/tls/other-ca.pem https://localhost:4433/ >/dev/null 2>&1',
    // The default CA store is OpenSSL's, which SSL_CERT_FILE points elsewhere.
    'SSL_CERT_FILE=/tmp/tls/ca.pem curl -sS https://127.0.0.1:4433/ | grep -q "^<HTML>"',
  ],
  meta: {
    description: 'Command-line tool and library for transferring data with URLs (HTTPS through OpenSSL)',
    license: 'curl',
    homepage: 'https://curl.se/',
  },
}
