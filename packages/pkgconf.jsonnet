// pkgconf 1.8.1, providing `pkg-config` (and libpkgconf.a).
//
// The source is Debian's orig tarball `pkgconf_1.8.1.orig.tar.xz`. Whether
// it is byte-identical to the upstream release file is not known (no
// public recipe pins that file's sha256 to compare with), so the Debian
// archive is its only origin and the version says so.
//
// Search path: the package directories of the usual host locations (as
// ncurses does for terminfo), then PKG_CONFIG_PATH as always; magpkg's
// build sandbox sets PKG_CONFIG_PATH and PKG_CONFIG_SYSROOT_DIR itself.
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'pkgconf',
  version: '1.8.1+debian',
  dir:: 'pkgconf-1.8.1',
  sources: [tree.source(
    'pkgconf_1.8.1.orig.tar.xz',
    '644361ada2942be05655d4452eb018791647c31bba429b287f1f68deb2dc6840',
    [tree.debian('pool/main/p/pkgconf', 'pkgconf_1.8.1.orig.tar.xz')],
  )],
  configureFlags:: [
    '--disable-shared',
    '--with-pkg-config-dir=/usr/local/lib/pkgconfig:/usr/local/share/pkgconfig:/usr/lib/x86_64-linux-gnu/pkgconfig:/usr/lib64/pkgconfig:/usr/lib/pkgconfig:/usr/share/pkgconfig',
    '--with-system-libdir=/lib:/usr/lib:/usr/lib64:/usr/lib/x86_64-linux-gnu',
    '--with-system-includedir=/usr/include',
  ],
  postInstall:: |||
    ln -s pkgconf "$out/bin/pkg-config"
    rm -rf "$out/share/doc"
  |||,
  tests:: [
    'pkg-config --version | grep -qx 1.8.1',
    'mkdir -p /tmp/pc && printf "%s\\n" "prefix=/opt/m" "Name: m" "Description: m" "Version: 4.2" "Cflags: -I\\${prefix}/include" "Libs: -L\\${prefix}/lib -lm42" >/tmp/pc/m.pc',
    // (pkgconf ends the flags with a space.)
    'PKG_CONFIG_PATH=/tmp/pc pkg-config --cflags --libs m | grep -qx -- "-I/opt/m/include -L/opt/m/lib -lm42 *"',
    'PKG_CONFIG_PATH=/tmp/pc pkg-config --atleast-version 4 m',
  ],
  meta: {
    description: "pkg-config implementation: compiler and linker flags of installed libraries (Debian's tarball of pkgconf 1.8.1)",
    license: 'ISC',
    homepage: 'https://github.com/pkgconf/pkgconf',
  },
}
