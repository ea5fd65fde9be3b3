// BusyBox 1.35.0: many common UNIX utilities in one small executable.
//
// Built from its default configuration (`make defconfig`), statically
// linked with musl; every applet is a symlink to bin/busybox (one flat
// bin/, like the rest of the tree). `config` lists extra .config lines
// (e.g. `pkgs.busybox { config: ['CONFIG_FEATURE_EDITING_VI=y'] }`).
// No man page: it is generated with perl's pod2man, not in the build root.
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  config:: [],
  // Applets that do not build against musl (they use glibc-only
  // interfaces) or the kernel headers of the bootstrap root.
  disabled:: [],

  name: 'busybox',
  version: '1.35.0',
  sources: [tree.source(
    'busybox-1.35.0.tar.bz2',
    'faeeb244c35a348a334f4a59e44626ee870fb07b6884d68c10ae8bc19f83a694',
    [
      'https://busybox.net/downloads/busybox-1.35.0.tar.bz2',
      tree.debian('pool/main/b/busybox', 'busybox_1.35.0.orig.tar.bz2'),
    ],
  )],
  script:: tree.kernelHeaders + |||
    tar -xf "$src/busybox-1.35.0.tar.bz2"
    cd busybox-1.35.0
    make defconfig >/dev/null
    set_config() {
      sed -i -e "/^# ${1%%=*} is not set\$/d" -e "/^${1%%=*}=/d" .config
      echo "$1" >>.config
    }
  ||| + std.join('', [
    "set_config '%s'\n" % line
    for line in [
      'CONFIG_STATIC=' + (if pkg.static then 'y' else 'n'),
      'CONFIG_EXTRA_CFLAGS="%s"' % (if pkg.static then tree.kernelCflags else ''),
    ] + ['%s=n' % c for c in pkg.disabled] + pkg.config
  ]) + |||
    yes '' | make oldconfig >/dev/null
  ||| + |||
    make -j%(jobs)s CC="%(cc)s" HOSTCC=gcc
    mkdir -p "$out/bin"
    cp busybox "$out/bin/busybox"
    for a in $(./busybox --list); do
      [ "$a" = busybox ] || ln -s busybox "$out/bin/$a"
    done
  ||| % { jobs: pkg.jobs, cc: if pkg.static then 'musl-gcc' else 'gcc' },
  tests:: [
    'busybox | head -n 1 | grep -q "BusyBox v1.35.0"',
    'test "$(echo magnet | busybox tr a-z A-Z)" = MAGNET',
    'test "$(echo magnet | sha256sum | cut -c1-8)" = 17991c8c',
  ],
  meta: {
    description: 'Tiny versions of many common UNIX utilities in a single executable',
    license: 'GPL-2.0-only',
    homepage: 'https://busybox.net/',
  },
}
