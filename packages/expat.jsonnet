// Expat 2.5.0: the stream-oriented XML parser library (libexpat.a,
// expat.h, expat.pc).
//
// The source is Debian's orig tarball `expat_2.5.0.orig.tar.gz`, an archive
// of the R_2_5_0 tag of the libexpat repository: not the release tarball
// (`expat-2.5.0.tar.xz`, which has the generated configure), so the Debian
// archive is its only origin and the version says so. Without configure
// (the root has no autoconf, nor CMake), the library's three sources are
// compiled directly with a configuration header for Linux, as the
// make-dfsg definition does.
//
// Not a dependency of the tree's Python, which uses the copy of expat in
// its own source (pyexpat, xml.etree).
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'expat',
  version: '2.5.0+debian',
  sources: [tree.source(
    'expat_2.5.0.orig.tar.gz',
    'ab00ee05c7067fd10a35c5d2a4922ebba746ddd50ff83b79c828da17bbdf1757',
    [tree.debian('pool/main/e/expat', 'expat_2.5.0.orig.tar.gz')],
  )],
  script:: |||
    tar -xf "$src/expat_2.5.0.orig.tar.gz"
    cd libexpat-R_2_5_0/expat/lib
    printf '#define %%s\n' \
      'BYTEORDER 1234' 'HAVE_GETRANDOM 1' 'HAVE_SYSCALL_GETRANDOM 1' 'HAVE_FCNTL_H 1' \
      'HAVE_STDINT_H 1' 'HAVE_STDLIB_H 1' 'HAVE_STRING_H 1' 'HAVE_UNISTD_H 1' 'HAVE_MMAP 1' \
      'XML_DEV_URANDOM 1' 'XML_DTD 1' 'XML_NS 1' 'XML_CONTEXT_BYTES 1024' \
      'PACKAGE_NAME "expat"' 'PACKAGE_VERSION "2.5.0"' >expat_config.h
    for f in xmlparse xmlrole xmltok; do
      %(cc)s -O2 -DHAVE_EXPAT_CONFIG_H -I. -c $f.c -o $f.o
    done
    ar crD libexpat.a xmlparse.o xmlrole.o xmltok.o
    mkdir -p "$out/lib/pkgconfig" "$out/include"
    cp libexpat.a "$out/lib/"
    cp expat.h expat_external.h "$out/include/"
    printf '%%s\n' 'prefix=/' 'libdir=${prefix}/lib' 'includedir=${prefix}/include' '' \
      'Name: expat' 'Version: 2.5.0' 'Description: expat XML parser' \
      'Libs: -L${libdir} -lexpat' 'Cflags: -I${includedir}' >"$out/lib/pkgconfig/expat.pc"
    # A program parsing a document with a namespace through the library.
    cd /tmp
    cat >t.c <<'C'
    #include <expat.h>
    #include <stdio.h>
    #include <string.h>
    static int n;
    static void start(void *u, const XML_Char *name, const XML_Char **a) { (void) u; (void) a; if (strcmp(name, "urn:m|b") == 0) n++; }
    int main(void) {
      const char *doc = "<a xmlns:m='urn:m'><m:b/><m:b/></a>";
      XML_Parser p = XML_ParserCreateNS(NULL, '|');
      XML_SetStartElementHandler(p, start);
      if (XML_Parse(p, doc, (int) strlen(doc), 1) != XML_STATUS_OK) return 1;
      printf("%%d %%s\n", n, XML_ExpatVersion());
      return 0;
    }
    C
    %(cc)s -I"$out/include" t.c -o t "$out/lib/libexpat.a"
    test "$(./t)" = "2 expat_2.5.0"
  ||| % { cc: pkg.cc },
  meta: {
    description: "Stream-oriented XML parser library (Debian's tarball of the expat 2.5.0 tag)",
    license: 'MIT',
    homepage: 'https://libexpat.github.io/',
  },
}
