// The bootstrap build root: 29 pinned Debian 12 (bookworm) binary packages
// unpacked by magpkg's `rootfs` builtin (no maintainer scripts run) into one
// root filesystem, plus the few links dpkg's scripts would have made. It is
// the binary seed every package of the tree is built with: GNU make, gcc 12,
// binutils, glibc and musl (`musl-gcc -static`), dash as /bin/sh, GNU tar,
// and busybox for the small tools (sed, grep, awk, ...).
//
// A definition uses it with `buildDeps: [p.bootstrap]`; it is bound at `/`
// of the build sandbox (see doc/building.md).
//
// Pins come from shared data `bootstrap-debs.tsv`. `.deb`s under
// `pool/updates/` live in the security archive, a mirror of its own.
local magnets = import 'magnets.libsonnet';
local deb(path, sha256) = {
  local parts = std.split(path, '/'),
  filename: parts[std.length(parts) - 1],
  sha256: sha256,
  urls: [
    if std.startsWith(path, 'pool/updates/')
    then 'mirror://debian-security/' + path
    else 'mirror://debian/' + path,
  ] + (if std.objectHas(magnets, sha256) then [magnets[sha256]] else []),
};

// busybox applets linked in /bin where no package provides the command
// (the rootfs builtin skips a name found in /bin, /sbin, /usr/bin or
// /usr/sbin, so GNU tar, make and binutils keep their real tools). Never
// `sh`: busybox's shell runs its own applets even when PATH has GNU tools.
local applets = [
  '[', '[[', 'awk', 'base64', 'basename', 'bc', 'bunzip2', 'bzcat', 'bzip2',
  'cat', 'chgrp', 'chmod', 'chown', 'cmp', 'cp', 'cpio', 'cut', 'date', 'dc',
  'dd', 'diff', 'dirname', 'du', 'echo', 'ed', 'egrep', 'env', 'expand',
  'expr', 'factor', 'false', 'fgrep', 'find', 'fold', 'getopt', 'grep',
  'groups', 'gunzip', 'gzip', 'head', 'hexdump', 'hostname', 'id', 'kill',
  'less', 'link', 'ln', 'logname', 'ls', 'lzcat', 'lzma', 'md5sum', 'mkdir',
  'mkfifo', 'mknod', 'mktemp', 'more', 'mv', 'nl', 'nproc', 'od', 'paste',
  'patch', 'printf', 'ps', 'pwd', 'readlink', 'realpath', 'rev', 'rm', 'rmdir',
  'sed', 'seq', 'sha1sum', 'sha256sum', 'sha512sum', 'sleep', 'sort', 'stat',
  'strings', 'sync', 'tac', 'tail', 'tee', 'test', 'time', 'timeout', 'touch',
  'tr', 'true', 'truncate', 'tty', 'uname', 'uncompress', 'unexpand', 'uniq',
  'unlink', 'unlzma', 'unxz', 'unzip', 'uudecode', 'uuencode', 'wc', 'which',
  'whoami', 'xargs', 'xxd', 'xz', 'xzcat', 'yes', 'zcat',
];

{
  name: 'bootstrap',
  version: 'bookworm-1',
  sources: [
    deb('pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb', '3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744'),  // busybox-static 1:1.35.0-4+deb12u1+b1
    deb('pool/main/d/dash/dash_0.5.12-2_amd64.deb', '33ea40061da2f1a861ec46212b2b6a34f0776a049b1a3f0abce2fb8cb994258f'),  // dash 0.5.12-2
    deb('pool/main/t/tar/tar_1.34+dfsg-1.2+deb12u1_amd64.deb', '24fb92e98c2969171f81a8b589263d705f6b1670f95d121cd74c810d4605acc3'),  // tar 1.34+dfsg-1.2+deb12u1
    deb('pool/main/a/acl/libacl1_2.3.1-3_amd64.deb', '8be9df5795114bfe90e2be3d208ef47a5edd3fc7b3e20d387a597486d444e5e2'),  // libacl1 2.3.1-3
    deb('pool/main/libs/libselinux/libselinux1_3.4-1+b6_amd64.deb', '2b07f5287b9105f40158b56e4d70cc1652dac56a408f3507b4ab3d061eed425f'),  // libselinux1 3.4-1+b6
    deb('pool/updates/main/p/pcre2/libpcre2-8-0_10.42-1+deb12u2_amd64.deb', 'd2f7edfcc7689b9e0761c2742cc824ac86a20768bc5e8057818dc6875291fe76'),  // libpcre2-8-0 10.42-1+deb12u2
    deb('pool/main/m/make-dfsg/make_4.3-4.1_amd64.deb', 'a1a83af8cbd854af887b72ad196b1f4af58387815e21ced1000253a116a46e2a'),  // make 4.3-4.1
    deb('pool/main/g/gcc-defaults/gcc_12.2.0-3_amd64.deb', 'bb63b0fb2797e2a3a294dab8a02614930c557ec1f4ea96637c244b8b5f87e630'),  // gcc 4:12.2.0-3
    deb('pool/main/g/gcc-12/gcc-12_12.2.0-14+deb12u1_amd64.deb', 'b46f33cc2ec245e435e043807038cecf4b201ef004800e9dfc1455240360e49d'),  // gcc-12 12.2.0-14+deb12u1
    deb('pool/main/g/gcc-12/cpp-12_12.2.0-14+deb12u1_amd64.deb', 'fedbb98e877adde83c983c6071537ea25ac52b277ac6e4637d85025949ca1454'),  // cpp-12 12.2.0-14+deb12u1
    deb('pool/main/g/gcc-12/libgcc-12-dev_12.2.0-14+deb12u1_amd64.deb', 'd720259380a84f2ffc6fe516eff5cbe9c8a005138e8d6a5748747ba4b3404a82'),  // libgcc-12-dev 12.2.0-14+deb12u1
    deb('pool/main/g/gcc-12/libgcc-s1_12.2.0-14+deb12u1_amd64.deb', '3016e62cb4b7cd8038822870601f5ed131befe942774d0f745622cc77d8a88f7'),  // libgcc-s1 12.2.0-14+deb12u1
    deb('pool/main/g/glibc/libc6_2.36-9+deb12u14_amd64.deb', 'ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf'),  // libc6 2.36-9+deb12u14
    deb('pool/main/g/glibc/libc6-dev_2.36-9+deb12u14_amd64.deb', '0218fc2befcd784c1b0c6292c0a137ce89fad054efaa579ad083bee0f2c01aae'),  // libc6-dev 2.36-9+deb12u14
    deb('pool/updates/main/l/linux/linux-libc-dev_6.1.192-2_amd64.deb', 'e0632f8e55ec0d2d1c56f9c65a8bcb64ad5d79add297266bc89c616dfef9a7fe'),  // linux-libc-dev 6.1.192-2
    deb('pool/main/b/binutils/binutils_2.40-2_amd64.deb', '83c3e20b53e1fbd84d764c3ba27d26a0376e361ae5d7fb37120196934dd87424'),  // binutils 2.40-2
    deb('pool/main/b/binutils/binutils-x86-64-linux-gnu_2.40-2_amd64.deb', '2d7ea8a570d768224d7f2424abbe6f373d2154865a1fa7f56c80d43ecf492521'),  // binutils-x86-64-linux-gnu 2.40-2
    deb('pool/main/b/binutils/libbinutils_2.40-2_amd64.deb', 'fcf55b99e5f8a78f3c8ce9b6957f1024f394cf20c196b100d308a57e43547710'),  // libbinutils 2.40-2
    deb('pool/main/b/binutils/libctf0_2.40-2_amd64.deb', '3fb7b6f326be3fae4a87a3d33b9269bd06c1e4346a24bd737f265067e3b7427f'),  // libctf0 2.40-2
    deb('pool/main/j/jansson/libjansson4_2.14-2_amd64.deb', '3fc9742f9f1a37bcb9931df6074b4d1483419ef832ad5349f47323e75fc27864'),  // libjansson4 2.14-2
    deb('pool/main/i/isl/libisl23_0.25-1.1_amd64.deb', 'ebff0b2f8b220c74224197523019366e97ee4770d464bebc48e4865114e4da0e'),  // libisl23 0.25-1.1
    deb('pool/main/m/mpclib3/libmpc3_1.3.1-1_amd64.deb', 'd7f79544790e44f9b0c8cb9034a18c58d37f8702a15f32539050718679e52f80'),  // libmpc3 1.3.1-1
    deb('pool/main/m/mpfr4/libmpfr6_4.2.0-1_amd64.deb', '37b7a2b4e78890b6a074777f27b96c84f58e81558ba08410c2b6c0ca4a4ad77b'),  // libmpfr6 4.2.0-1
    deb('pool/main/g/gmp/libgmp10_6.2.1+dfsg1-1.1_amd64.deb', '187aedef2ed763f425c1e523753b9719677633c7eede660401739e9c893482bd'),  // libgmp10 2:6.2.1+dfsg1-1.1
    deb('pool/main/libz/libzstd/libzstd1_1.5.4+dfsg2-5_amd64.deb', '6315b5ac38b724a710fb96bf1042019398cb656718b1522279a5185ed39318fa'),  // libzstd1 1.5.4+dfsg2-5
    deb('pool/main/z/zlib/zlib1g_1.2.13.dfsg-1_amd64.deb', 'd7dd1d1411fedf27f5e27650a6eff20ef294077b568f4c8c5e51466dc7c08ce4'),  // zlib1g 1:1.2.13.dfsg-1
    deb('pool/main/m/musl/musl_1.2.3-1_amd64.deb', '4fc1e3d9b579f5c682ca99a4d45aec08d72a2e6b82b4c2e1bbcb7095466ae96d'),  // musl 1.2.3-1
    deb('pool/main/m/musl/musl-dev_1.2.3-1_amd64.deb', '7c34f29a0c1aa12f6da1d25ed6de6fe6bbd9e048ee76b3dcb88c5e51fb65507f'),  // musl-dev 1.2.3-1
    deb('pool/main/m/musl/musl-tools_1.2.3-1_amd64.deb', '84f03a8373746858357a8341af823d1d1e7d1afb4e63459a73e8f6b9246291fe'),  // musl-tools 1.2.3-1
  ],
  build: {
    builtin: 'rootfs',
    links: {
      // Made by dpkg maintainer scripts / update-alternatives, which we
      // never run. (dash's .deb already ships /bin/sh -> dash; listing it
      // keeps the intent visible and is checked.)
      '/bin/sh': 'dash',
      '/usr/bin/cc': 'gcc-12',
      '/usr/bin/cpp': 'cpp-12',
    },
    busybox: '/bin/busybox',
    applets: applets,
  },
  meta: {
    description: 'Build root from pinned Debian 12 binary packages (gcc, make, glibc, musl, busybox)',
    license: 'various (Debian main)',
  },
}
