// XZ Utils 5.4.1: xz/lzma compression programs and liblzma (static library).
// (5.4.x predates the compromised 5.6.0/5.6.1 releases.)
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  shared:: false,
  assert !(pkg.shared && pkg.static) : 'xz: a shared liblzma needs { static: false }',

  name: 'xz',
  version: '5.4.1',
  sources: [tree.source(
    'xz-5.4.1.tar.xz',
    '5d9827aa1875b21c288f78864bb26d2650b436ea8d2cad364e4921eb6266a5a5',
    [
      'https://github.com/tukaani-project/xz/releases/download/v5.4.1/xz-5.4.1.tar.xz',
      'https://tukaani.org/xz/xz-5.4.1.tar.xz',
      tree.debian('pool/main/x/xz-utils', 'xz-utils_5.4.1.orig.tar.xz'),
    ],
  )],
  configureFlags:: [
    if pkg.shared then '--enable-shared' else '--disable-shared',
    '--disable-doc',
  ],
  tests:: [
    'xz --version | grep -q "xz (XZ Utils) 5.4.1"',
    'test "$(echo magnet | xz -9e | xz -d)" = magnet',
    'test "$(echo magnet | lzma | unlzma)" = magnet',
  ],
  meta: {
    description: 'XZ-format compression utilities and liblzma',
    // 5.4.x: liblzma and most programs are in the public domain (0BSD came with 5.6).
    license: 'LicenseRef-Public-Domain AND LGPL-2.1-or-later AND GPL-2.0-or-later',
    homepage: 'https://tukaani.org/xz/',
  },
}
