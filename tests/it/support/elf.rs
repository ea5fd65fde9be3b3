//! Reading ELF headers of built programs.

use std::path::Path;

/// Does this ELF file ask for a program interpreter (i.e. is it dynamic)?
pub fn has_interpreter(path: &Path) -> bool {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is not an ELF file", path.display());
    assert_eq!(bytes[4], 2, "64-bit ELF expected");
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).any(|i| u32_at(phoff + i * phentsize) == 3 /* PT_INTERP */)
}
