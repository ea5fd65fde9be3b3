// libffi 3.4.4: calls functions whose signature is known only at run time.
// A static library (libffi.a, headers in include/) compiled for musl by
// default; `{ static: false }` compiles it for glibc, `{ static: false,
// shared: true }` adds libffi.so.
local tree = import 'tree.libsonnet';

tree.autotools {
  local pkg = self,
  shared:: false,
  assert !(pkg.shared && pkg.static) : 'libffi: a shared libffi needs { static: false }',

  name: 'libffi',
  version: '3.4.4',
  sources: [tree.source(
    'libffi-3.4.4.tar.gz',
    'd66c56ad259a82cf2a9dfc408b32bf5da52371500b84745f7fb8b645712df676',
    [
      'https://github.com/libffi/libffi/releases/download/v3.4.4/libffi-3.4.4.tar.gz',
      tree.debian('pool/main/libf/libffi', 'libffi_3.4.4.orig.tar.gz'),
    ],
  )],
  // src/tramp.c includes <linux/limits.h>.
  preConfigure:: tree.kernelHeaders,
  configureFlags:: [
    'CPPFLAGS="%s"' % (if pkg.static then tree.kernelCflags else ''),
    if pkg.shared then '--enable-shared' else '--disable-shared',
    '--disable-docs',
    // lib/, not lib64/ or lib/<triplet>/.
    '--disable-multi-os-directory',
    // Otherwise configure picks -march for the CPU of the build machine:
    // neither reproducible nor portable.
    '--enable-portable-binary',
  ],
  // A program calling a function through ffi_call, linked with the
  // installed library, must get the right result.
  postInstall:: |||
    cd /tmp
    cat >t.c <<'C'
    #include <ffi.h>
    #include <stdio.h>
    static int add(int a, int b) { return a + b; }
    int main(void) {
      ffi_cif cif;
      ffi_type *args[2] = { &ffi_type_sint, &ffi_type_sint };
      int a = 40, b = 2;
      void *values[2] = { &a, &b };
      ffi_arg result;
      if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, 2, &ffi_type_sint, args) != FFI_OK) return 1;
      ffi_call(&cif, FFI_FN(add), &result, values);
      printf("%d\n", (int) result);
      return 0;
    }
    C
  ||| + '%s -I"$out/include" t.c -o t "$out/lib/libffi.a"\n' % pkg.cc + |||
    test "$(./t)" = 42
  |||,
  meta: {
    description: 'Foreign function interface library',
    license: 'MIT',
    homepage: 'https://sourceware.org/libffi/',
  },
}
