//! Build tools of the tree (issue 15): the autotools with gawk and bison,
//! binutils, and CMake with Ninja, built from source in a fresh store and
//! used from a project's environment on the host.
//!
//! - `autotools_binutils_and_ninja_work_in_a_pure_shell` (#[ignore]d, in
//!   CI): autoconf, automake, libtool, bison, gawk (and m4, perl, busybox
//!   under them), binutils and ninja in one environment; `autoreconf -fi`
//!   in `magpkg shell --pure`, then the project is configured, built and
//!   run; as, ld, ar, nm and ninja in the pure shell.
//! - `cmake_and_ninja_build_a_cxx_project` (#[ignore]d, and only with
//!   `--features long-tests`: CMake's build is about 10 minutes on 2 cores,
//!   not in CI): a C++ project configured by the environment's cmake with
//!   the Ninja generator and built by its ninja. cmake's own build runs the
//!   same kind of project in its sandbox (its `tests`).
//!
//! - `the_c_template_compiles_with_the_trees_gcc_in_a_pure_shell`
//!   (#[ignore]d, and only with `--features long-tests`: gcc takes about 11
//!   minutes on 2 cores): a project from the `c` template built by the
//!   environment's gcc, in a plain and a pure shell.
//!
//! The build times are in doc/package-tree.md.

use std::path::Path;
use std::process::Output;

use crate::support::elf::has_interpreter;
use crate::support::{real_network, require, show, stdout, write, TestContext};

/// `magpkg shell [--pure] -- ARGS` in `project`, building what is missing
/// (2 cores); fails the test unless the command succeeds.
fn shell(env: &TestContext, project: &Path, pure: bool, args: &[&str]) -> Output {
    let mut c = env.in_dir(project);
    real_network(&mut c)
        .env("MAGPKG_BUILD_CORES", "2")
        .env("MAGPKG_JOBS", "2")
        .arg("shell");
    if pure {
        c.arg("--pure");
    }
    let out = c.arg("--").args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", show(&out));
    out
}

/// A project whose manifest lists `packages` of the tree.
fn project(env: &TestContext, name: &str, packages: &[&str]) -> std::path::PathBuf {
    let root = env.project(name);
    let list: Vec<String> = packages.iter().map(|p| format!("pkgs.{p}")).collect();
    write(
        &root.join("magnet.jsonnet"),
        format!(
            "local pkgs = import 'magnet/packages.jsonnet';\n{{ packages: [{}] }}\n",
            list.join(", ")
        ),
    );
    root
}

/// The output of `program [arg]` run with an empty environment, outside any
/// environment of magpkg.
#[cfg(feature = "long-tests")]
fn run_alone(program: &Path, arg: &str) -> String {
    let mut c = std::process::Command::new(program);
    if !arg.is_empty() {
        c.arg(arg);
    }
    stdout(&c.env_clear().output().unwrap())
}

/// Every line of `out` is a program of the store.
fn assert_in_store(env: &TestContext, out: &Output, n: usize) {
    let store = env.store().to_string_lossy().into_owned();
    let s = stdout(out);
    assert_eq!(s.lines().count(), n, "{}", show(out));
    for l in s.lines() {
        assert!(l.starts_with(&store), "not the environment's: {l}");
    }
}

/// Slow: m4, coreutils, perl, autoconf, automake, libtool, bison, gawk, make,
/// busybox, binutils and ninja from source, two at a time (figures in
/// doc/package-tree.md).
#[test]
#[ignore]
fn autotools_binutils_and_ninja_work_in_a_pure_shell() {
    // Not a test of trust: the project is this test's own.
    let env = TestContext::new().trusting();
    env.seed_bootstrap();
    let root = project(
        &env,
        "calc",
        &[
            "autoconf", "automake", "libtool", "bison", "gawk", "make", "busybox", "binutils", "ninja",
        ],
    );
    // A program with a bison grammar and a libtool library, built by
    // automake rules; configure checks for gawk.
    write(
        &root.join("configure.ac"),
        "AC_INIT([calc], [1.0])\nAC_CONFIG_MACRO_DIRS([m4])\nAC_CONFIG_AUX_DIR([build-aux])\n\
         AM_INIT_AUTOMAKE([foreign])\nAC_PROG_CC\nAC_PROG_YACC\nAC_PROG_AWK\nLT_INIT\n\
         AC_CONFIG_HEADERS([config.h])\nAC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n",
    );
    write(
        &root.join("Makefile.am"),
        "ACLOCAL_AMFLAGS = -I m4\nnoinst_LTLIBRARIES = libnum.la\nlibnum_la_SOURCES = num.c\n\
         bin_PROGRAMS = calc\ncalc_SOURCES = calc.y\ncalc_LDADD = libnum.la\n",
    );
    write(&root.join("num.c"), "int num(int c) { return c - '0'; }\n");
    write(
        &root.join("calc.y"),
        "%{\n#include <stdio.h>\n#include <ctype.h>\nint num(int);\nint yylex(void);\n\
         void yyerror(const char *s) { fprintf(stderr, \"%s\\n\", s); }\n%}\n\
         %token NUM\n%left '+'\n%left '*'\n%%\n\
         line: expr '\\n' { printf(\"%d\\n\", $1); } ;\n\
         expr: expr '+' expr { $$ = $1 + $3; } | expr '*' expr { $$ = $1 * $3; } | NUM ;\n%%\n\
         int yylex(void) { int c = getchar(); if (isdigit(c)) { yylval = num(c); return NUM; } return c == EOF ? 0 : c; }\n\
         int main(void) { return yyparse(); }\n",
    );

    // In the pure shell: only the environment's programs (no host compiler).
    let out = shell(
        &env,
        &root,
        true,
        &[
            "sh",
            "-c",
            "! command -v cc >/dev/null && autoreconf -fi && for p in autoreconf automake libtoolize bison gawk m4 perl; do command -v $p; done",
        ],
    );
    let s = stdout(&out);
    let programs: Vec<&str> = s.lines().filter(|l| l.starts_with('/')).collect();
    assert_eq!(programs.len(), 7, "{}", show(&out));
    for p in &programs {
        assert!(
            p.starts_with(&*env.store().to_string_lossy()),
            "not the environment's: {p}"
        );
    }
    for f in [
        "configure",
        "Makefile.in",
        "config.h.in",
        "aclocal.m4",
        "build-aux/ltmain.sh",
        "build-aux/ylwrap",
        "m4/libtool.m4",
    ] {
        assert!(root.join(f).is_file(), "autoreconf -fi made {f}: {}", show(&out));
    }

    // The generated build, configured with the host's C compiler and the
    // environment's bison, gawk, make and binutils.
    require("cc");
    shell(&env, &root, false, &["sh", "-c", "./configure && make"]);
    let makefile = std::fs::read_to_string(root.join("Makefile")).unwrap();
    assert!(makefile.contains("\nYACC = bison -y\n"), "bison was found");
    assert!(makefile.contains("\nAWK = gawk\n"), "gawk was found");
    let out = shell(&env, &root, false, &["sh", "-c", "echo '2+3*4' | ./calc"]);
    assert_eq!(stdout(&out), "14\n");

    // binutils: each tool run directly in the pure shell; the program they
    // make runs on the host.
    write(
        &root.join("exit.s"),
        ".globl _start\n_start:\n  mov $60, %eax\n  mov $42, %edi\n  syscall\n",
    );
    shell(&env, &root, true, &["as", "-o", "exit.o", "exit.s"]);
    shell(&env, &root, true, &["ld", "-static", "-o", "exit", "exit.o"]);
    shell(&env, &root, true, &["ar", "rcs", "libexit.a", "exit.o"]);
    let out = shell(&env, &root, true, &["nm", "libexit.a"]);
    assert!(stdout(&out).contains(" T _start\n"), "{}", show(&out));
    let prog = root.join("exit");
    assert!(!has_interpreter(&prog));
    let st = std::process::Command::new(&prog).status().unwrap();
    assert_eq!(st.code(), Some(42));
    // ar is deterministic: no date, owner or mode of the file in the archive.
    let ar = std::fs::read(root.join("libexit.a")).unwrap();
    assert!(ar.starts_with(b"!<arch>\n"));
    let at = ar.windows(7).position(|w| w == b"exit.o/").expect("exit.o's header");
    let header = String::from_utf8_lossy(&ar[at..at + 60]).into_owned();
    assert!(
        header.starts_with("exit.o/         0           0     0     644 "),
        "{header:?}"
    );

    // ninja: a build, then nothing to do.
    write(
        &root.join("build.ninja"),
        "rule cp\n  command = cp $in $out\nbuild b.txt: cp a.txt\nbuild c.txt: cp b.txt\n",
    );
    write(&root.join("a.txt"), "magnet\n");
    shell(&env, &root, true, &["ninja"]);
    assert_eq!(std::fs::read_to_string(root.join("c.txt")).unwrap(), "magnet\n");
    let out = shell(&env, &root, true, &["ninja"]);
    assert!(stdout(&out).contains("no work to do"), "{}", show(&out));

    // The tools are the store's, and static.
    let out = shell(
        &env,
        &root,
        false,
        &["sh", "-c", "for p in ld as ar ninja gawk bison; do command -v $p; done"],
    );
    assert_in_store(&env, &out, 6);
    for l in stdout(&out).lines() {
        assert!(!has_interpreter(Path::new(l)), "{l} is static");
    }
}

/// Slow: ninja and CMake from source with Debian's g++, about 10 minutes on
/// 2 cores (figures in doc/package-tree.md), too long for CI: compiled with
/// the `long-tests` feature only.
#[cfg(feature = "long-tests")]
#[test]
#[ignore]
fn cmake_and_ninja_build_a_cxx_project() {
    let env = TestContext::new().trusting();
    env.seed_bootstrap();
    let root = project(&env, "hello", &["cmake", "ninja"]);
    write(
        &root.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.20)\nproject(hello CXX)\n\
         add_library(greet STATIC greet.cc)\nadd_executable(hello main.cc)\ntarget_link_libraries(hello greet)\n",
    );
    write(
        &root.join("greet.cc"),
        "#include <string>\nstd::string greet() { return \"hello from cmake\"; }\n",
    );
    write(
        &root.join("main.cc"),
        "#include <iostream>\n#include <string>\nstd::string greet();\nint main() { std::cout << greet() << std::endl; }\n",
    );
    // The host's C++ compiler (the tree's gcc is another 11 minutes of
    // building: the template test covers it).
    require("c++");
    shell(&env, &root, false, &["cmake", "-G", "Ninja", "-S", ".", "-B", "build"]);
    shell(&env, &root, false, &["cmake", "--build", "build"]);
    let out = std::process::Command::new(root.join("build/hello")).output().unwrap();
    assert_eq!(stdout(&out), "hello from cmake\n");
    // The cmake and ninja of the environment, static programs.
    let cache = std::fs::read_to_string(root.join("build/CMakeCache.txt")).unwrap();
    let store = env.store().to_string_lossy().into_owned();
    let make_program = cache
        .lines()
        .find_map(|l| l.strip_prefix("CMAKE_MAKE_PROGRAM:FILEPATH="))
        .unwrap();
    assert!(make_program.starts_with(&store), "ninja of the store: {make_program}");
    let cmake_root = cache
        .lines()
        .find_map(|l| l.strip_prefix("CMAKE_ROOT:INTERNAL="))
        .unwrap();
    assert!(cmake_root.starts_with(&store), "modules of the store: {cmake_root}");
    let out = shell(
        &env,
        &root,
        false,
        &["sh", "-c", "for p in cmake ninja; do command -v $p; done"],
    );
    assert_in_store(&env, &out, 2);
    for l in stdout(&out).lines() {
        assert!(!has_interpreter(Path::new(l)), "{l} is static");
    }
}

/// Slow: gcc 12 with its binutils and musl from source (about 11 minutes on
/// 2 cores, figures in doc/package-tree.md), too long for CI: compiled with
/// the `long-tests` feature only.
///
/// Issue 15's check: in a fresh store, a C project from the `c` template
/// builds with the environment's compiler, not the host's (`command -v cc`
/// is in the store), also in `magpkg shell --pure`, where no host compiler
/// is visible; C++ too.
#[cfg(feature = "long-tests")]
#[test]
#[ignore]
fn the_c_template_compiles_with_the_trees_gcc_in_a_pure_shell() {
    let env = TestContext::new().trusting();
    env.seed_bootstrap();
    let root = env.project("zcount");
    // A program linking the environment's zlib, built by make.
    write(
        &root.join("zcount.c"),
        "#include <stdio.h>\n#include <string.h>\n#include <zlib.h>\n\
         int main(int argc, char **argv) {\n\
           const char *s = argc > 1 ? argv[1] : \"magnet\";\n\
           printf(\"%s crc32 %08lx zlib %s\\n\", s, crc32(0L, (const Bytef *)s, strlen(s)), zlibVersion());\n\
           return 0;\n}\n",
    );
    write(
        &root.join("Makefile"),
        "zcount: zcount.c\n\tcc -O2 -Wall -o zcount zcount.c -lz\n",
    );
    write(
        &root.join("hello.cc"),
        "#include <iostream>\n#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; \
         int s = 0; for (int x : v) s += x; std::cout << \"c++ \" << s << std::endl; }\n",
    );
    let out = env.run_in(&root, &["init"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        crate::support::stderr(&out).contains("template `c` (detected)"),
        "{}",
        show(&out)
    );
    let manifest = std::fs::read_to_string(root.join("magnet.jsonnet")).unwrap();
    assert!(
        manifest.contains("pkgs.gcc"),
        "the template uses the tree's gcc: {manifest}"
    );

    // `magpkg run build`: gcc, make and zlib built from source, then make.
    let mut c = env.in_dir(&root);
    let out = real_network(&mut c)
        .env("MAGPKG_BUILD_CORES", "2")
        .args(["run", "build"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let bin = root.join("zcount");
    assert!(!has_interpreter(&bin), "a static program");
    assert_eq!(run_alone(&bin, "magnet"), "magnet crc32 0aa0e08d zlib 1.2.13\n");

    // The compiler, the linker and what the driver runs are the store's.
    let out = shell(
        &env,
        &root,
        false,
        &[
            "sh",
            "-c",
            "command -v cc; command -v c++; command -v ld; command -v ar; cc -print-prog-name=ld",
        ],
    );
    assert_in_store(&env, &out, 5);

    // --pure: no host compiler to fall back on; make runs the recipe with
    // the environment's cc, and C++ works too.
    std::fs::remove_file(&bin).unwrap();
    let out = shell(&env, &root, true, &["make"]);
    assert!(
        stdout(&out).contains("cc -O2 -Wall -o zcount zcount.c -lz"),
        "{}",
        show(&out)
    );
    assert_eq!(run_alone(&bin, "pure"), "pure crc32 38905b98 zlib 1.2.13\n");
    let out = shell(&env, &root, true, &["cc", "--version"]);
    assert!(
        stdout(&out).starts_with("cc (magpkg gcc 12.2.0+dfsg) 12.2.0"),
        "{}",
        show(&out)
    );
    // /usr/bin is the environment's in a pure shell: the host's gcc is not there.
    let out = shell(&env, &root, true, &["/usr/bin/gcc", "--version"]);
    assert!(
        stdout(&out).starts_with("gcc (magpkg gcc 12.2.0+dfsg)"),
        "{}",
        show(&out)
    );
    shell(&env, &root, true, &["c++", "-O2", "-o", "hello", "hello.cc"]);
    assert!(!has_interpreter(&root.join("hello")));
    assert_eq!(run_alone(&root.join("hello"), ""), "c++ 6\n");

    // For the record of doc/package-tree.md: this fresh store's gcc, to
    // compare with another machine's build of the same id.
    for e in std::fs::read_dir(env.store().join("pkgs-v1"))
        .unwrap()
        .filter_map(Result::ok)
    {
        if e.path().extension().is_some_and(|x| x == "json") {
            let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            if rec["name"] == "gcc" {
                eprintln!("gcc {}: {}", rec["id"], rec["digest"]);
            }
        }
    }
}
