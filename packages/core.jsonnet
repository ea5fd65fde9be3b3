// The core userland: the tools a shell session expects on any Unix, each a
// static program of the tree. The Magnet Linux README builds from it:
//   magpkg build '(import "packages/core.jsonnet").coreutils'
// (`packages/...` is the package tree wherever magpkg runs; see
// doc/packages.md). `magpkg build -e '(import "packages/core.jsonnet")'`
// builds all of them.
local p = import 'packages.jsonnet';

{
  bzip2: p.bzip2,
  coreutils: p.coreutils,
  diffutils: p.diffutils,
  file: p.file,
  findutils: p.findutils,
  grep: p.grep,
  gzip: p.gzip,
  less: p.less,
  make: p.make,
  patch: p.patch,
  sed: p.sed,
  tree: p.tree,
  xz: p.xz,
}
