// GNU coreutils 9.1: the basic file, shell and text utilities.
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  name: 'coreutils',
  version: '9.1',
  sources: [tree.gnuSource(
    'coreutils', '9.1', 'tar.xz',
    '61a1f410d78ba7e7f37a5a4f50e6d1320aca33375484a3255eddf17a38580423',
    'pool/main/c/coreutils', 'coreutils_9.1.orig.tar.xz',
  )],
  configureFlags:: [
    // kill and uptime are usually taken from procps; hostname and arch are
    // not installed by default either. stdbuf works by LD_PRELOADing its
    // libexec/coreutils/libstdbuf.so, found at a path fixed at build time:
    // useless for static programs in a relocatable store.
    '--enable-no-install-program=kill,uptime' + (if pkg.static then ',stdbuf' else ''),
    // Without perl in the build root, man pages come from coreutils' own
    // fallback (dummy-man) instead of help2man.
    '--without-selinux',
    '--without-openssl',
    '--disable-libcap',
  ],
  tests:: [
    'ls --version | grep -q "GNU coreutils"',
    'test "$(echo magnet | tr a-z A-Z)" = MAGNET',
    'test "$(printf "b\\na\\n" | sort | head -n 1)" = a',
    'test "$(seq 3 | paste -sd+)" = 1+2+3',
    'echo magnet | sha256sum | cut -c1-8 | grep -qx 17991c8c',
  ],
  meta: {
    description: 'Basic file, shell and text manipulation utilities of the GNU system',
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/coreutils/',
  },
}
