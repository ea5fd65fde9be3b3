// Lua 5.4: the interpreter, the compiler and liblua (static library and headers).
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'lua',
  version: '5.4.4',
  sources: [tree.source(
    'lua-5.4.4.tar.gz',
    '164c7849653b80ae67bec4b7473b884bf5cc8d2dca05653475ec2ed27b9ebf61',
    [
      'https://www.lua.org/ftp/lua-5.4.4.tar.gz',
      tree.debian('pool/main/l/lua5.4', 'lua5.4_5.4.4.orig.tar.gz'),
    ],
  )],
  tests:: [
    'lua -e "assert(1 + 1 == 2); print(_VERSION)" | grep -qx "Lua 5.4"',
    'luac -v',
  ],
  // The `linux` platform without readline (not in the tree); -std=gnu99 is
  // what Lua's Makefile puts in CC. `cp -p` instead of `install -p`, which
  // the bootstrap root lacks (as Lua's Makefile suggests).
  script:: |||
    tar -xf "$src/lua-5.4.4.tar.gz"
    cd lua-5.4.4
    make -j%(jobs)s linux CC="%(cc)s -std=gnu99"
    make install INSTALL_TOP="$out" INSTALL_MAN="$out/share/man/man1" \
      INSTALL_EXEC="cp -p" INSTALL_DATA="cp -p"
  ||| % { jobs: pkg.jobs, cc: pkg.cc },
  meta: {
    description: 'Powerful, light-weight programming language designed for extending applications',
    license: 'MIT',
    homepage: 'https://www.lua.org/',
  },
}
