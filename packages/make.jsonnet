// GNU make from Debian's dfsg repack of 4.3 (`make-dfsg_4.3.orig.tar.gz`).
//
// The repack is not the GNU release: Debian removes the GFDL manual (all of
// doc/, so there is no man page either), and its orig tarball is a source
// snapshot without the generated `configure` (Debian runs autoreconf). The
// Debian archive is its only origin, and the version says it is the repack.
//
// The tree has no autoconf/automake (nor the perl they need), so this
// definition answers configure's questions itself: `defines` below is what
// configure finds on Linux with musl (and glibc), turned into src/config.h
// from autoheader's template in the tarball, and the object list is the
// one of Makefile.am (make_SRCS, POSIX variant) plus the gnulib modules it
// needs. The bootstrap root's make builds it; the new make then rebuilds
// itself from scratch (stage 2), which is what gets installed.
local tree = import 'tree.libsonnet';

tree.package {
  local pkg = self,
  name: 'make',
  version: '4.3+dfsg',
  sources: [tree.source(
    'make-dfsg_4.3.orig.tar.gz',
    'be4c17542578824e745f83bcd2a9ba264206187247cb6a5f5df99b0a9d1f9047',
    [tree.debian('pool/main/m/make-dfsg', 'make-dfsg_4.3.orig.tar.gz')],
  )],
  script:: |||
    tar -xf "$src/make-dfsg_4.3.orig.tar.gz"
    cd make-dfsg-4.3
    cat >defines <<'EOF'
    _ALL_SOURCE 1
    _GNU_SOURCE 1
    _POSIX_PTHREAD_SEMANTICS 1
    _TANDEM_SOURCE 1
    __EXTENSIONS__ 1
    FILE_TIMESTAMP_HI_RES 1
    HAVE_ALLOCA 1
    HAVE_ALLOCA_H 1
    HAVE_ATEXIT 1
    HAVE_CLOCK_GETTIME 1
    HAVE_DECL_BSD_SIGNAL 1
    HAVE_DECL_GETDTABLESIZE 1
    HAVE_DECL_PROGRAM_INVOCATION_NAME 1
    HAVE_DECL_PROGRAM_INVOCATION_SHORT_NAME 1
    HAVE_DECL_STRERROR_R 1
    HAVE_DECL_SYS_SIGLIST 0
    HAVE_DECL__SYS_SIGLIST 0
    HAVE_DECL___SYS_SIGLIST 0
    HAVE_DECL___ARGV 0
    HAVE_DIRENT_H 1
    HAVE_DUP 1
    HAVE_DUP2 1
    HAVE_FCNTL 1
    HAVE_FCNTL_H 1
    HAVE_FDOPEN 1
    HAVE_FORK 1
    HAVE_GETCWD 1
    HAVE_GETDTABLESIZE 1
    HAVE_GETGROUPS 1
    HAVE_GETHOSTNAME 1
    HAVE_GETRLIMIT 1
    HAVE_GETTIMEOFDAY 1
    HAVE_INTTYPES_H 1
    HAVE_ISATTY 1
    HAVE_LIMITS_H 1
    HAVE_LOCALE_H 1
    HAVE_LONG_LONG_INT 1
    HAVE_LSTAT 1
    HAVE_MEMORY_H 1
    HAVE_MEMRCHR 1
    HAVE_MKSTEMP 1
    HAVE_MKTEMP 1
    HAVE_PIPE 1
    HAVE_POSIX_SPAWN 1
    HAVE_POSIX_SPAWNATTR_SETSIGMASK 1
    HAVE_PSELECT 1
    HAVE_READLINK 1
    HAVE_REALPATH 1
    HAVE_SA_RESTART 1
    HAVE_SETEGID 1
    HAVE_SETEUID 1
    HAVE_SETLINEBUF 1
    HAVE_SETREGID 1
    HAVE_SETREUID 1
    HAVE_SETRLIMIT 1
    HAVE_SETVBUF 1
    HAVE_SIGACTION 1
    HAVE_SPAWN_H 1
    HAVE_STDINT_H 1
    HAVE_STDLIB_H 1
    HAVE_STPCPY 1
    HAVE_STRCASECMP 1
    HAVE_STRCOLL 1
    HAVE_STRDUP 1
    HAVE_STRERROR_R 1
    HAVE_STRINGS_H 1
    HAVE_STRING_H 1
    HAVE_STRNCASECMP 1
    HAVE_STRNDUP 1
    HAVE_STRSIGNAL 1
    HAVE_STRUCT_DIRENT_D_TYPE 1
    HAVE_SYMLINK 1
    HAVE_SYS_FILE_H 1
    HAVE_SYS_PARAM_H 1
    HAVE_SYS_RESOURCE_H 1
    HAVE_SYS_SELECT_H 1
    HAVE_SYS_SOCKET_H 1
    HAVE_SYS_STAT_H 1
    HAVE_SYS_TIME_H 1
    HAVE_SYS_TYPES_H 1
    HAVE_SYS_WAIT_H 1
    HAVE_TTYNAME 1
    HAVE_UINTMAX_T 1
    HAVE_UMASK 1
    HAVE_UNISTD_H 1
    HAVE_UNSIGNED_LONG_LONG_INT 1
    HAVE_VFORK 1
    HAVE_WAIT3 1
    HAVE_WAITPID 1
    HAVE_WCHAR_H 1
    HAVE_WCHAR_T 1
    HAVE_WINT_T 1
    HAVE_WORKING_FORK 1
    HAVE_WORKING_O_NOATIME 1
    HAVE_WORKING_O_NOFOLLOW 1
    HAVE_WORKING_VFORK 1
    HAVE__BOOL 1
    MAKE_HOST "%(host)s"
    MAKE_JOBSERVER 1
    MAKE_SYMLINKS 1
    PACKAGE "make"
    PACKAGE_BUGREPORT "bug-make@gnu.org"
    PACKAGE_NAME "GNU make"
    PACKAGE_STRING "GNU make 4.3"
    PACKAGE_TARNAME "make"
    PACKAGE_URL "http://www.gnu.org/software/make/"
    PACKAGE_VERSION "4.3"
    PATH_SEPARATOR_CHAR ':'
    RETSIGTYPE void
    SCCS_GET "get"
    STDC_HEADERS 1
    ST_MTIM_NSEC st_mtim.tv_nsec
    TIME_WITH_SYS_TIME 1
    USE_POSIX_SPAWN 1
    VERSION "4.3"
    EOF
    awk 'NR == FNR { v[$1] = substr($0, length($1) + 2); next }
         /^# *undef / {
           n = $0; sub(/^# *undef +/, "", n); sub(/[ \t].*/, "", n)
           if (n in v) print "#define " n " " v[n]; else print "/* " $0 " */"
           next
         }
         { print }' defines src/config.h.in >src/config.h
    cp lib/glob.in.h lib/glob.h
    cp lib/fnmatch.in.h lib/fnmatch.h
    objs=
    for f in src/ar src/arscan src/commands src/default src/dir src/expand src/file src/function \
             src/getopt src/getopt1 src/guile src/hash src/implicit src/job src/load src/loadapi \
             src/main src/misc src/output src/posixos src/read src/remake src/remote-stub src/rule \
             src/signame src/strcache src/variable src/version src/vpath \
             lib/glob lib/fnmatch lib/findprog-in lib/concat-filename lib/xconcat-filename \
             lib/xalloc-die lib/exitfail; do
      echo "$f.o: $f.c src/config.h; \$(CC) -O2 -DHAVE_CONFIG_H -Isrc -Ilib -DLOCALEDIR='\"/share/locale\"' -DLIBDIR='\"/lib\"' -DINCLUDEDIR='\"/include\"' -c -o \$@ $f.c" >>objs.mk
      objs="$objs $f.o"
    done
    printf 'make: %%s\n\t$(CC) -o $@ %%s\n' "$objs" "$objs" >>objs.mk
    make -j%(jobs)s -f objs.mk CC="%(cc)s" make
    mv make make-stage1
    rm -f src/*.o lib/*.o
    ./make-stage1 -j%(jobs)s -f objs.mk CC="%(cc)s" make
    mkdir -p "$out/bin" "$out/include"
    cp make "$out/bin/make"
    cp src/gnumake.h "$out/include/gnumake.h"
  ||| % {
    jobs: pkg.jobs,
    cc: pkg.cc,
    host: if pkg.static then 'x86_64-pc-linux-musl' else 'x86_64-pc-linux-gnu',
  },
  tests:: [
    'make --version | grep -q "GNU Make 4.3"',
    |||
      cd /tmp && printf 'all: a.out b.out\n%%.out: %%.in\n\tcp $< $@\n' >Makefile && echo a >a.in && echo b >b.in && make -j2 -s && test "$(cat a.out b.out)" = "$(printf "a\nb")"
    |||,
  ],
  meta: {
    description: "Utility for directing compilation (Debian's dfsg repack of GNU make 4.3)",
    license: 'GPL-3.0-or-later',
    homepage: 'https://www.gnu.org/software/make/',
  },
}
