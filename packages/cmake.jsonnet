// CMake 3.25.1 (cmake, ctest, cpack and the modules), from the upstream
// release (Debian's orig tarball is the same file).
//
// CMake is C++: it is compiled with Debian's g++ 12 (`tree.gxxSources`) and,
// as Debian has no C++ library for musl, linked statically against glibc:
// like the tree's other programs it runs on any x86-64 Linux from any path,
// and it finds its modules (share/cmake-3.25) relative to its own location.
// Built with its bundled libraries (curl, libarchive, zlib, expat, libuv...)
// by its own bootstrap script; without OpenSSL (`file(DOWNLOAD)` and
// FetchContent work over http only: a project's environment is meant to
// have its dependencies already), ccmake and the Qt GUI.
local ninja = import 'ninja.jsonnet';
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'cmake',
  version: '3.25.1',
  // Linked with glibc (no musl C++ library): not a musl program.
  static:: false,
  sources: [tree.source(
    'cmake-3.25.1.tar.gz',
    '1c511d09516af493694ed9baf13c55947a36389674d657a2d5e0ccedc6b291d8',
    [
      'https://github.com/Kitware/CMake/releases/download/v3.25.1/cmake-3.25.1.tar.gz',
      tree.debian('pool/main/c/cmake', 'cmake_3.25.1.orig.tar.gz'),
    ],
  )] + tree.gxxSources,
  // For the test (a CMake project built with Ninja).
  buildDeps+: [ninja],
  script:: tree.gxxSetup + |||
    cd /build
    tar -xzf "$src/cmake-3.25.1.tar.gz"
    cd cmake-3.25.1
    CC=gcc CXX=g++ ./bootstrap --prefix=/ --parallel=%(jobs)s --no-qt-gui -- \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_EXE_LINKER_FLAGS=-static \
      -DCMAKE_C_FLAGS=-ffile-prefix-map=/build/cmake-3.25.1=. \
      -DCMAKE_CXX_FLAGS=-ffile-prefix-map=/build/cmake-3.25.1=. \
      -DCMAKE_USE_OPENSSL=OFF \
      -DBUILD_CursesDialog=OFF \
      -DBUILD_TESTING=OFF
    make
    make install DESTDIR="$out"
    rm -rf "$out/doc"
  ||| % { jobs: pkg.jobs },
  tests:: [
    'cmake --version | grep -q "^cmake version 3.25.1"',
    '! objdump -p "$out/bin/cmake" | grep -q "^ *INTERP "',
    // A C++ project configured with the Ninja generator, built and run; the
    // modules are found beside the program (there is no /share/cmake-3.25).
    |||
      test ! -e /share/cmake-3.25
      mkdir -p /tmp/cm/src && cd /tmp/cm
      printf 'cmake_minimum_required(VERSION 3.20)\nproject(hello CXX)\nadd_library(greet STATIC greet.cc)\nadd_executable(hello main.cc)\ntarget_link_libraries(hello greet)\n' >src/CMakeLists.txt
      printf '#include <string>\nstd::string greet() { return "hello from cmake"; }\n' >src/greet.cc
      printf '#include <iostream>\n#include <string>\nstd::string greet();\nint main() { std::cout << greet() << std::endl; }\n' >src/main.cc
      cmake -G Ninja -S src -B build >/dev/null
      cmake --build build
      test "$(build/hello)" = "hello from cmake"
      grep -q "CMAKE_ROOT:INTERNAL=$out/share/cmake-3.25" build/CMakeCache.txt
    |||,
  ],
  meta: {
    description: 'Cross-platform build system generator (cmake, ctest, cpack)',
    license: 'BSD-3-Clause',
    homepage: 'https://cmake.org/',
  },
}
