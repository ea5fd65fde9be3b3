// perl 5.36.0 with its core modules.
//
// A static musl program by default: dynamic loading is off (`-Uusedl`), so
// every core XS module (Digest::SHA, Storable, POSIX, List::Util...) is
// linked into the one `perl` binary and nothing is loaded at run time.
// Modules installed later from CPAN that need a C compiler cannot be loaded
// by it; pure-Perl modules work. `{ static: false }` is meant to build a
// glibc perl with dynamic loading, for XS modules built on the host (that
// variant has not been built yet).
//
// @INC is relocatable (`-Duserelocatableinc`): every library path is
// ".../../lib/perl5/...", relative to the directory of the running perl,
// so the package works from wherever the store is.
//
// Reproducibility: Configure records who built perl, when, where and on
// which kernel (`cf_by`, `cf_time`, `myhostname`, `myuname`, `osvers`) in
// Config.pm and config.h; those are fixed here.
local coreutils = import 'coreutils.jsonnet';
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'perl',
  version: '5.36.0',
  sources: [tree.source(
    'perl-5.36.0.tar.xz',
    '0f386dccbee8e26286404b2cca144e1005be65477979beb9b1ba272d4819bcf0',
    [
      'https://www.cpan.org/src/5.0/perl-5.36.0.tar.xz',
      tree.debian('pool/main/p/perl', 'perl_5.36.0.orig.tar.xz'),
    ],
  )],
  // Configure needs `comm`, `split`, `tr`... of a full userland: the
  // bootstrap root's busybox lacks some.
  buildDeps+: [coreutils],
  local musl = [
    '-Dcc=musl-gcc',
    '-Dld=musl-gcc',
    "-Dldflags='-static'",
    "-Dccflags='-D_GNU_SOURCE'",
    // Only musl's libraries: Configure would otherwise find glibc's
    // (libcrypt, libgdbm...) and link them into a musl program.
    "-Dlibpth='/usr/lib/x86_64-linux-musl'",
    "-Dlibs='-lpthread -lm -lc'",
    '-Dlibc=musl',
    '-Uusedl',
  ],
  script:: |||
    tar -xf "$src/perl-5.36.0.tar.xz"
    cd perl-5.36.0
    # Configure takes the build time for cf_time whatever -D says.
    sed -i 's/^cf_time=`LC_ALL=C; LANGUAGE=C; export LC_ALL; export LANGUAGE; $date 2>&1`$/cf_time=`LC_ALL=C date -u -d @$SOURCE_DATE_EPOCH`/' Configure
    grep -q '^cf_time=`LC_ALL=C date -u -d @$SOURCE_DATE_EPOCH`$' Configure
    ./Configure -des \
      -Dprefix=/ -Duserelocatableinc \
      -Dcf_by=magpkg -Dcf_email=magpkg@localhost -Dperladmin=magpkg@localhost \
      -Dmyhostname=magpkg -Dmydomain=.localdomain \
      -Dmyuname=linux -Dosvers=linux \
      -Dinc_version_list=none -Dusenm=false \
      %(flags)s
    make -j%(jobs)s
    # Without the manual pages (`install.man`): the POD is in lib/perl5.
    make install.perl DESTDIR="$out"
    # The scripts of bin/ (cpan, prove, perldoc...) start with `#!//bin/perl`
    # (the prefix is /): they run the perl found on PATH instead.
    for f in "$out"/bin/*; do
      if [ "$(head -c 12 "$f")" = '#!//bin/perl' ]; then
        sed -i -e '1s|^#!//bin/perl|#!/usr/bin/env perl|' -e "2s|exec //bin/perl |exec perl |" "$f"
      fi
    done
    if head -qn1 "$out"/bin/* | grep '//bin/perl'; then exit 1; fi
  ||| % {
    jobs: pkg.jobs,
    flags: std.join(' ', if pkg.static then musl else []),
  },
  tests:: [
    'perl -v | grep -q "v5.36.0"',
    // (Through perl: the root has no /usr/bin/env for the #! line.)
    'perl "$out/bin/prove" --version | grep -q "TAP::Harness"',
    'perl -MDigest::SHA -MStorable -MPOSIX -MList::Util -MData::Dumper -MFile::Temp -MJSON::PP -MTime::HiRes -MEncode -e1',
    'test "$(echo -n magnet | perl -MDigest::SHA=sha256_hex -e "print sha256_hex(<STDIN>)")" = "$(echo -n magnet | sha256sum | cut -d" " -f1)"',
    'perl -MStorable=freeze,thaw -e "exit(thaw(freeze([42]))->[0] == 42 ? 0 : 1)"',
    // @INC is relative to the program, not to the build's prefix.
    'perl -e \'print "$INC[0]\\n"\' | grep "^$out/"',
  ],
  meta: {
    description: 'Perl 5 language interpreter with its core modules',
    license: 'Artistic-1.0-Perl OR GPL-1.0-or-later',
    homepage: 'https://www.perl.org/',
  },
}
