// git 2.39.5: static (musl), with HTTP(S) remotes through the tree's curl
// and OpenSSL (CA certificates as curl's: the host's /etc/ssl, or
// `GIT_SSL_CAINFO` / `http.sslCAInfo`).
//
// Relocatable (`RUNTIME_PREFIX`): git finds its helper programs
// (libexec/git-core: git-remote-https, ...) and templates relative to its
// own binary, so it works from wherever the store is. The system
// configuration file is the host's /etc/gitconfig.
//
// Without Perl, Python, Tcl/Tk and gettext: the commands written in those
// (git send-email, git svn, gitk, git gui, ...) are not installed and git
// speaks English. The dashed forms of built-in commands (`git-commit`) are
// not installed either (`git commit` is the way to call them).
local coreutils = import 'coreutils.jsonnet';
local curl = import 'curl.jsonnet';
local openssl = import 'openssl.jsonnet';
local tree = import 'tree.libsonnet';
local zlib = import 'zlib.jsonnet';

tree.package {
  local pkg = self,
  name: 'git',
  version: '2.39.5',
  sources: [tree.source(
    'git-2.39.5.tar.xz',
    'c58da92c378df4a986ca33266897a7397e86c22ee266a284d8c2432c39066b59',
    [
      'https://www.kernel.org/pub/software/scm/git/git-2.39.5.tar.xz',
      tree.debian('pool/main/g/git', 'git_2.39.5.orig.tar.xz'),
    ],
  )],
  // coreutils: `make install` runs install(1), which the root lacks.
  buildDeps+: [
    curl { static: pkg.static },
    openssl { static: pkg.static },
    zlib { static: pkg.static },
    coreutils,
  ],
  local flags = [
    'prefix=/',
    'gitexecdir=libexec/git-core',
    'template_dir=share/git-core/templates',
    'sysconfdir=/etc',
    'RUNTIME_PREFIX=YesPlease',
    'CC="%s"' % pkg.cc,
    'CFLAGS="-O2"',
    'NO_GETTEXT=YesPlease',
    'NO_TCLTK=YesPlease',
    'NO_PERL=YesPlease',
    'NO_PYTHON=YesPlease',
    'NO_EXPAT=YesPlease',
    'CURLDIR=/deps',
    'CURL_LDFLAGS="-L/deps/lib -lcurl -lssl -lcrypto -lz"',
    'OPENSSLDIR=/deps',
    'ZLIB_PATH=/deps',
    'NO_INSTALL_HARDLINKS=YesPlease',
    'INSTALL_SYMLINKS=YesPlease',
    'SKIP_DASHED_BUILT_INS=YesPlease',
  ] + (if pkg.static then [
         // musl's regexec has no REG_STARTEND: git's own regex.
         'NO_REGEX=YesPlease',
       ] else []),
  script:: |||
    tar -xf "$src/git-2.39.5.tar.xz"
    cd git-2.39.5
    make -j%(jobs)s %(flags)s all
    make %(flags)s install DESTDIR="$out"
    rm -rf "$out/share/perl5" "$out/share/gitweb" "$out/share/git-gui" "$out/share/gitk"
  ||| % { jobs: pkg.jobs, flags: std.join(' ', flags) },
  // busybox's httpd (in the root) serves a repository over dumb HTTP.
  tests:: [
    'git --version | grep -qx "git version 2.39.5"',
    'test "$(git --exec-path)" = "$out/libexec/git-core"',
    |||
      export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=magpkg GIT_AUTHOR_EMAIL=magpkg@localhost GIT_COMMITTER_NAME=magpkg GIT_COMMITTER_EMAIL=magpkg@localhost
      git init -q -b main /tmp/repo && (cd /tmp/repo && echo magnet >README && git add README && git commit -qm first && git log --oneline | grep -q first)
      git clone -q /tmp/repo /tmp/local-clone && test "$(cat /tmp/local-clone/README)" = magnet
      mkdir -p /tmp/www && git clone -q --bare /tmp/repo /tmp/www/repo.git && git -C /tmp/www/repo.git update-server-info
      busybox httpd -p 127.0.0.1:8080 -h /tmp/www
      git clone -q http://127.0.0.1:8080/repo.git /tmp/http-clone && test "$(cat /tmp/http-clone/README)" = magnet
    |||,
    // HTTPS: git's https helper is linked with curl and OpenSSL.
    'test -x "$out/libexec/git-core/git-remote-https"',
    '"$out/libexec/git-core/git-remote-https" 2>&1 | grep -q "remote-curl: usage"',
  ],
  meta: {
    description: 'Distributed version control system (HTTP and HTTPS remotes through curl)',
    license: 'GPL-2.0-only',
    homepage: 'https://git-scm.com/',
  },
}
