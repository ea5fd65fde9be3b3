// file 5.44: determines file types from their contents (libmagic, the
// `file` program and the compiled magic database, share/misc/magic.mgc).
//
// With zlib, bzip2 and xz of the tree (static libraries, same C library as
// file itself) it looks inside compressed files (`file -z`). The database
// path compiled in is relative to the build prefix, so the package's env
// sets MAGIC to its own database.
local bzip2 = import 'bzip2.jsonnet';
local tree = import 'tree.libsonnet';
local xz = import 'xz.jsonnet';
local zlib = import 'zlib.jsonnet';

tree.autotools {
  local pkg = self,
  name: 'file',
  version: '5.44',
  sources: [tree.source(
    'file-5.44.tar.gz',
    '3751c7fba8dbc831cb8d7cc8aff21035459b8ce5155ef8b0880a27d028475f3b',
    [
      'https://astron.com/pub/file/file-5.44.tar.gz',
      tree.debian('pool/main/f/file', 'file_5.44.orig.tar.gz'),
    ],
  )],
  buildDeps+: [
    zlib { static: pkg.static },
    bzip2 { static: pkg.static },
    xz { static: pkg.static },
  ],
  configureFlags:: [
    'CPPFLAGS="%s"' % pkg.depCppflags,
    'LDFLAGS="%s"' % pkg.depLdflags,
    '--enable-zlib',
    '--enable-bzlib',
    '--enable-xzlib',
    '--disable-zstdlib',
    '--disable-lzlib',
    '--disable-libseccomp',
    '--enable-static',
    '--disable-shared',
  ],
  env: {
    MAGIC: '$out/share/misc/magic.mgc',
  },
  tests:: [
    'file --version | grep -q "file-5.44"',
    'export MAGIC="$out/share/misc/magic.mgc"',
    'file -b "$out/bin/file" | grep -q "%s"' % (if pkg.static then 'statically linked' else 'dynamically linked'),
    'echo magnet | gzip >/tmp/m.gz && file -bz /tmp/m.gz | grep -q "ASCII text (gzip compressed data"',
    'echo magnet | xz >/tmp/m.xz && file -bz /tmp/m.xz | grep -q "ASCII text (XZ compressed data"',
    'echo magnet | bzip2 >/tmp/m.bz2 && file -bz /tmp/m.bz2 | grep -q "ASCII text (bzip2 compressed data"',
  ],
  meta: {
    description: 'Determines file types (the file program and libmagic)',
    license: 'BSD-2-Clause',
    homepage: 'https://www.darwinsys.com/file/',
  },
}
