//! What a file is, from its first bytes: ELF (class, machine, AppImage
//! type), PE (machine, DLL or program) or a script with a shebang. Used
//! when an `MPKG` entry leaves `type`, `os` or `architecture` out; values
//! written in the MPKG always win.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What detection found. Every field is optional: a field detection cannot
/// tell stays `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detected {
    /// `binary`, `library` or `script-<interpreter>`.
    pub kind: Option<String>,
    /// `linux`, `windows`, `freebsd`...
    pub os: Option<String>,
    /// Normalised architecture (see [`normalize_arch`]).
    pub arch: Option<String>,
    /// 1 or 2 for AppImages (ELF runtime with an appended image).
    pub appimage: Option<u8>,
    /// ELF class or PE optional-header magic: 32 or 64.
    pub bits: Option<u8>,
}

/// The fields of an ELF header magpkg needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfHeader {
    pub bits: u8,
    pub little_endian: bool,
    pub osabi: u8,
    pub e_type: u16,
    pub machine: u16,
    pub phoff: u64,
    pub phentsize: u16,
    pub phnum: u16,
    pub shoff: u64,
    pub shentsize: u16,
    pub shnum: u16,
}

impl ElfHeader {
    /// Parse the ELF header at the start of `b` (at least 64 bytes for ELF64,
    /// 52 for ELF32).
    pub fn parse(b: &[u8]) -> Option<ElfHeader> {
        if b.len() < 52 || &b[..4] != b"\x7fELF" {
            return None;
        }
        let bits = match b[4] {
            1 => 32,
            2 => 64,
            _ => return None,
        };
        let le = match b[5] {
            1 => true,
            2 => false,
            _ => return None,
        };
        let u16_at = |o: usize| {
            let x = [b[o], b[o + 1]];
            if le {
                u16::from_le_bytes(x)
            } else {
                u16::from_be_bytes(x)
            }
        };
        let u32_at = |o: usize| {
            let x = [b[o], b[o + 1], b[o + 2], b[o + 3]];
            if le {
                u32::from_le_bytes(x)
            } else {
                u32::from_be_bytes(x)
            }
        };
        let u64_at = |o: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[o..o + 8]);
            if le {
                u64::from_le_bytes(x)
            } else {
                u64::from_be_bytes(x)
            }
        };
        if bits == 64 {
            if b.len() < 64 {
                return None;
            }
            Some(ElfHeader {
                bits,
                little_endian: le,
                osabi: b[7],
                e_type: u16_at(16),
                machine: u16_at(18),
                phoff: u64_at(32),
                shoff: u64_at(40),
                phentsize: u16_at(54),
                phnum: u16_at(56),
                shentsize: u16_at(58),
                shnum: u16_at(60),
            })
        } else {
            Some(ElfHeader {
                bits,
                little_endian: le,
                osabi: b[7],
                e_type: u16_at(16),
                machine: u16_at(18),
                phoff: u32_at(28) as u64,
                shoff: u32_at(32) as u64,
                phentsize: u16_at(42),
                phnum: u16_at(44),
                shentsize: u16_at(46),
                shnum: u16_at(48),
            })
        }
    }

    /// Where the ELF file ends by its own account: after the section header
    /// table, which linkers put last. An AppImage's SquashFS image starts here.
    pub fn end_of_section_headers(&self) -> u64 {
        self.shoff + self.shnum as u64 * self.shentsize as u64
    }
}

/// Architecture name for an ELF `e_machine`.
fn elf_arch(machine: u16, bits: u8) -> Option<&'static str> {
    Some(match (machine, bits) {
        (3, _) => "i386",
        (62, _) => "amd64",
        (40, _) => "arm",
        (183, _) => "arm64",
        (243, 64) => "riscv64",
        (243, _) => "riscv32",
        (8, 64) => "mips64",
        (8, _) => "mips",
        (20, _) => "ppc",
        (21, _) => "ppc64",
        (22, _) => "s390x",
        (258, _) => "loongarch64",
        _ => return None,
    })
}

/// Architecture name for a PE `Machine`.
fn pe_arch(machine: u16) -> Option<&'static str> {
    Some(match machine {
        0x014c => "i386",
        0x8664 => "amd64",
        0xaa64 => "arm64",
        0x01c0 | 0x01c2 | 0x01c4 => "arm",
        _ => return None,
    })
}

/// One spelling per architecture, so `AMD64`, `x86_64` and `x64` compare
/// equal. Unknown names are lowercased and kept.
pub fn normalize_arch(a: &str) -> String {
    let l = a.trim().to_ascii_lowercase();
    match l.as_str() {
        "amd64" | "x86_64" | "x86-64" | "x64" | "intel64" | "win64" | "linux64" => "amd64",
        "i386" | "i486" | "i586" | "i686" | "x86" | "ia32" | "win32" | "linux32" => "i386",
        "arm64" | "aarch64" | "armv8" => "arm64",
        "arm" | "armhf" | "armel" | "armv7" | "armv7l" | "armv6" => "arm",
        "" | "any" | "all" | "noarch" | "none" => "any",
        other => return other.to_string(),
    }
    .to_string()
}

/// One spelling per operating system.
pub fn normalize_os(o: &str) -> String {
    let l = o.trim().to_ascii_lowercase();
    match l.as_str() {
        "linux" | "gnu/linux" | "gnu" => "linux",
        "windows" | "win" | "win32" | "win64" | "win95" | "winnt" | "nt" => "windows",
        "macos" | "mac" | "osx" | "darwin" | "macosx" => "macos",
        "" | "any" | "all" => "any",
        other => return other.to_string(),
    }
    .to_string()
}

/// The architecture this magpkg runs on, normalised.
pub fn host_arch() -> String {
    normalize_arch(std::env::consts::ARCH)
}

/// The OS this magpkg runs on, normalised.
pub fn host_os() -> String {
    normalize_os(std::env::consts::OS)
}

/// Detect what `path` is. Files that cannot be read or recognised give an
/// empty result (the caller reports what is missing).
pub fn detect(path: &Path) -> Detected {
    let Ok(mut f) = File::open(path) else {
        return Detected::default();
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return Detected::default();
    }
    let mut head = vec![0u8; 4096];
    let n = read_up_to(&mut f, &mut head);
    head.truncate(n);
    if let Some(h) = ElfHeader::parse(&head) {
        return detect_elf(&h, &head, &mut f);
    }
    if head.starts_with(b"MZ") {
        if let Some(d) = detect_pe(&head, &mut f) {
            return d;
        }
    }
    if let Some(interp) = shebang_interpreter(&head) {
        return Detected {
            kind: Some(format!("script-{interp}")),
            ..Default::default()
        };
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "bat" | "cmd" => Detected {
            kind: Some("script-cmd".into()),
            os: Some("windows".into()),
            ..Default::default()
        },
        "ps1" => Detected {
            kind: Some("script-powershell".into()),
            ..Default::default()
        },
        _ => Detected::default(),
    }
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

fn detect_elf(h: &ElfHeader, head: &[u8], f: &mut File) -> Detected {
    let appimage = (head.len() > 10 && &head[8..10] == b"AI" && matches!(head[10], 1 | 2)).then(|| head[10]);
    let os = match h.osabi {
        0 | 3 => "linux",
        9 => "freebsd",
        12 => "openbsd",
        2 => "netbsd",
        6 => "solaris",
        _ => "linux",
    };
    // ET_DYN is both shared libraries and PIE programs.
    let kind = match h.e_type {
        2 => "binary",
        3 if is_pie_program(h, f) => "binary",
        3 => "library",
        1 => "object",
        4 => "core",
        _ => "binary",
    };
    Detected {
        kind: Some(kind.into()),
        os: Some(os.into()),
        arch: elf_arch(h.machine, h.bits).map(String::from),
        appimage,
        bits: Some(h.bits),
    }
}

/// Is an ET_DYN file a program? Yes when it has an interpreter
/// (PT_INTERP: a PIE) or its dynamic section carries DF_1_PIE (a
/// static-pie); otherwise it is a shared library.
fn is_pie_program(h: &ElfHeader, f: &mut File) -> bool {
    let entsize = h.phentsize as usize;
    let min = if h.bits == 64 { 56 } else { 32 };
    if h.phnum == 0 || entsize < min || h.phnum > 512 {
        return false;
    }
    let mut buf = vec![0u8; entsize * h.phnum as usize];
    if f.seek(SeekFrom::Start(h.phoff)).is_err() || read_up_to(f, &mut buf) != buf.len() {
        return false;
    }
    let le = h.little_endian;
    let word = |b: &[u8], o: usize, wide: bool| -> u64 {
        if wide {
            let x: [u8; 8] = b[o..o + 8].try_into().unwrap();
            if le {
                u64::from_le_bytes(x)
            } else {
                u64::from_be_bytes(x)
            }
        } else {
            let x: [u8; 4] = b[o..o + 4].try_into().unwrap();
            (if le {
                u32::from_le_bytes(x)
            } else {
                u32::from_be_bytes(x)
            }) as u64
        }
    };
    let wide = h.bits == 64;
    let mut dynamic = None;
    for ph in buf.chunks(entsize) {
        match word(ph, 0, false) {
            3 => return true,
            // PT_DYNAMIC: (p_offset, p_filesz)
            2 if wide => dynamic = Some((word(ph, 8, true), word(ph, 32, true))),
            2 => dynamic = Some((word(ph, 4, false), word(ph, 16, false))),
            _ => {}
        }
    }
    let Some((off, size)) = dynamic else { return false };
    let size = size.min(64 * 1024) as usize;
    let mut dynbuf = vec![0u8; size];
    if f.seek(SeekFrom::Start(off)).is_err() || read_up_to(f, &mut dynbuf) != size {
        return false;
    }
    const DT_FLAGS_1: u64 = 0x6fff_fffb;
    const DF_1_PIE: u64 = 0x0800_0000;
    let step = if wide { 16 } else { 8 };
    dynbuf.chunks_exact(step).any(|d| {
        let half = step / 2;
        word(d, 0, wide) == DT_FLAGS_1 && word(d, half, wide) & DF_1_PIE != 0
    })
}

fn detect_pe(head: &[u8], f: &mut File) -> Option<Detected> {
    if head.len() < 0x40 {
        return None;
    }
    let lfanew = u32::from_le_bytes(head[0x3c..0x40].try_into().ok()?) as u64;
    let mut hdr = [0u8; 26];
    if lfanew as usize + hdr.len() <= head.len() {
        hdr.copy_from_slice(&head[lfanew as usize..lfanew as usize + 26]);
    } else {
        f.seek(SeekFrom::Start(lfanew)).ok()?;
        if read_up_to(f, &mut hdr) != hdr.len() {
            return None;
        }
    }
    if &hdr[..4] != b"PE\0\0" {
        return None;
    }
    let machine = u16::from_le_bytes([hdr[4], hdr[5]]);
    let characteristics = u16::from_le_bytes([hdr[22], hdr[23]]);
    let magic = u16::from_le_bytes([hdr[24], hdr[25]]);
    let kind = if characteristics & 0x2000 != 0 {
        "library"
    } else {
        "binary"
    };
    Some(Detected {
        kind: Some(kind.into()),
        os: Some("windows".into()),
        arch: pe_arch(machine).map(String::from),
        appimage: None,
        bits: match magic {
            0x10b => Some(32),
            0x20b => Some(64),
            _ => None,
        },
    })
}

/// `#!/usr/bin/python3 -u` → `python3`; `#!/usr/bin/env -S bash -e` → `bash`.
pub fn shebang_interpreter(head: &[u8]) -> Option<String> {
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let prog = words.next()?;
    let base = prog.rsplit('/').next()?;
    if base == "env" {
        // Skip env's options (`-S`, `-i`, `VAR=value`).
        return words
            .find(|w| !w.starts_with('-') && !w.contains('='))
            .map(|w| w.rsplit('/').next().unwrap_or(w).to_string());
    }
    Some(base.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(shebang_interpreter(b"#!/bin/sh\necho"), Some("sh".into()));
        assert_eq!(shebang_interpreter(b"#! /usr/bin/python3 -u\n"), Some("python3".into()));
        assert_eq!(shebang_interpreter(b"#!/usr/bin/env -S bash -e\n"), Some("bash".into()));
        assert_eq!(
            shebang_interpreter(b"#!/usr/bin/env LC_ALL=C perl\n"),
            Some("perl".into())
        );
        assert_eq!(shebang_interpreter(b"echo hi"), None);
    }

    #[test]
    fn arch_and_os_names() {
        assert_eq!(normalize_arch("AMD64"), "amd64");
        assert_eq!(normalize_arch("x86_64"), "amd64");
        assert_eq!(normalize_arch("aarch64"), "arm64");
        assert_eq!(normalize_arch("win32"), "i386");
        assert_eq!(normalize_os("Win64"), "windows");
        assert_eq!(normalize_os(""), "any");
    }

    #[test]
    fn elf_header_of_this_test_binary() {
        let exe = std::env::current_exe().unwrap();
        let d = detect(&exe);
        assert_eq!(d.kind.as_deref(), Some("binary"));
        assert_eq!(d.os.as_deref(), Some("linux"));
        assert_eq!(d.arch.as_deref(), Some(host_arch().as_str()));
        assert_eq!(d.appimage, None);
    }
}
