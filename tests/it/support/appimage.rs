//! AppImages for tests: a real compiled ELF runtime with a SquashFS image
//! made by mksquashfs (squashfs-tools) appended.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{require, show, write, write_exe as write_exec};

/// Compile a C program with the host compiler.
pub fn compile(out: &Path, src: &str, static_: bool) {
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let c = out.with_extension("c");
    fs::write(&c, src).unwrap();
    let mut cmd = Command::new(require("cc"));
    if static_ {
        cmd.arg("-static");
    }
    let o = cmd.arg("-O1").arg("-o").arg(out).arg(&c).output().unwrap();
    assert!(o.status.success(), "cc failed: {}", show(&o));
    fs::remove_file(c).unwrap();
}

/// An AppImage: a real ELF runtime (it would leave a marker if it ever
/// ran), with a SquashFS image of an AppDir appended and the type-2 magic;
/// `pseudo` are mksquashfs pseudo definitions adding entries to the image
/// (`"dev c 666 0 0 1 3"`: a device node, made without being root).
pub fn build_appimage(dir: &Path, name: &str, comp: &str, pseudo: &[&str]) -> PathBuf {
    let appdir = dir.join(format!("{name}.AppDir"));
    write_exec(
        &appdir.join("AppRun"),
        "#!/bin/sh\necho \"APPDIR=$APPDIR\"\necho \"APPIMAGE=$APPIMAGE\"\necho \"ARGV0=$ARGV0\"\n\
         for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\ncat \"$APPDIR/usr/share/hello/greeting\"\n",
    );
    write(&appdir.join("usr/share/hello/greeting"), "hello from the image\n");
    std::os::unix::fs::symlink("usr/share/hello/greeting", appdir.join("greeting-link")).unwrap();
    write(
        &appdir.join("hello.desktop"),
        "[Desktop Entry]\nType=Application\nName=Hello\nExec=hello %F\nIcon=hello\nCategories=Utility;\nX-AppImage-Version=1.2.3\n",
    );
    // A 1x1 PNG.
    let png = [
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00,
        0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d,
        0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    write(&appdir.join("hello.png"), png);
    std::os::unix::fs::symlink("hello.png", appdir.join(".DirIcon")).unwrap();
    let sq = dir.join(format!("{name}.squashfs"));
    let o = Command::new(require("mksquashfs"))
        .arg(&appdir)
        .arg(&sq)
        .args(["-root-owned", "-noappend", "-quiet", "-no-progress", "-comp", comp])
        .args(pseudo.iter().flat_map(|p| ["-p", p]))
        .output()
        .unwrap();
    assert!(o.status.success(), "mksquashfs: {}", show(&o));
    let runtime = dir.join("runtime");
    if !runtime.exists() {
        compile(
            &runtime,
            "#include <stdio.h>\nint main(void){FILE*f=fopen(\"RUNTIME-RAN\",\"w\");if(f)fclose(f);return 0;}\n",
            false,
        );
    }
    let mut bytes = fs::read(&runtime).unwrap();
    let runtime_len = bytes.len() as u64;
    // The ELF's own account of where it ends must be where the image starts.
    let shoff = u64::from_le_bytes(bytes[40..48].try_into().unwrap());
    let shentsize = u16::from_le_bytes(bytes[58..60].try_into().unwrap()) as u64;
    let shnum = u16::from_le_bytes(bytes[60..62].try_into().unwrap()) as u64;
    assert_eq!(
        shoff + shnum * shentsize,
        runtime_len,
        "the section headers end the runtime"
    );
    bytes[8..11].copy_from_slice(b"AI\x02");
    bytes.extend(fs::read(&sq).unwrap());
    let out = dir.join(format!("{name}-1.2.3-x86_64.AppImage"));
    write_exec(&out, bytes);
    out
}

/// The arguments of `magpkg app install-appimage` installing `img` as app
/// `name`, without menu entries or launchers.
pub fn install_args<'a>(name: &'a str, img: &'a Path) -> [&'a str; 6] {
    [
        "app",
        "install-appimage",
        "--no-integrate",
        "--name",
        name,
        img.to_str().expect("a UTF-8 path"),
    ]
}
