//! Drops the symbol table from the kernel ELF that goes into the disk
//! images. The BIOS stages copy the kernel into memory one byte at a time
//! in unreal mode, which costs about a second per megabyte under TCG, and
//! the symbols are a third of a debug kernel. Nothing in the image needs
//! them: gdb reads the full ELF in target/, and the bootloader only needs
//! the program headers, the dynamic relocations and the section headers
//! (it finds `.bootloader-config` by name).
//!
//! The sections keep their indices: a dropped one becomes an empty
//! `SHT_NULL` entry, so `e_shstrndx` and every `sh_link` stay valid.

const SHT_NOBITS: u32 = 8;
const SHT_SYMTAB: u32 = 2;
const SHF_ALLOC: u64 = 2;

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?).into())
}
fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?).into())
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A copy of the little-endian ELF64 `elf` without `.symtab` and the string
/// table it links to; None if `elf` is not such a file (then it is used as
/// it is).
pub fn without_symbols(elf: &[u8]) -> Option<Vec<u8>> {
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(elf, 0x20)?, u16_at(elf, 0x36)?, u16_at(elf, 0x38)?);
    let (shoff, shentsize, shnum) = (u64_at(elf, 0x28)?, u16_at(elf, 0x3a)?, u16_at(elf, 0x3c)?);
    let header = |i: u64| usize::try_from(shoff + i * shentsize).ok();
    let mut dropped = Vec::new();
    for i in 0..shnum {
        let h = header(i)?;
        if u32_at(elf, h + 4)? == SHT_SYMTAB as u64 {
            dropped.extend([i, u32_at(elf, h + 40)?]);
        }
    }
    // Everything up to the end of the last segment and allocated section
    // stays where it is.
    let mut end = phoff + phentsize * phnum;
    for i in 0..phnum {
        let p = usize::try_from(phoff + i * phentsize).ok()?;
        end = end.max(u64_at(elf, p + 8)? + u64_at(elf, p + 32)?);
    }
    for i in 0..shnum {
        let h = header(i)?;
        if u64_at(elf, h + 8)? & SHF_ALLOC != 0 && u32_at(elf, h + 4)? != SHT_NOBITS as u64 {
            end = end.max(u64_at(elf, h + 24)? + u64_at(elf, h + 32)?);
        }
    }
    let mut out = elf.get(..usize::try_from(end).ok()?)?.to_vec();
    let mut headers = elf.get(header(0)?..header(shnum)?)?.to_vec();
    for i in 0..shnum {
        let h = usize::try_from(i * shentsize).ok()?;
        let entry = &mut headers[h..h + usize::try_from(shentsize).ok()?];
        let (kind, flags) = (u32_at(entry, 4)?, u64_at(entry, 8)?);
        if dropped.contains(&i) {
            entry[4..].fill(0);
        } else if i != 0 && flags & SHF_ALLOC == 0 && kind != SHT_NOBITS as u64 {
            // A section kept outside the segments (.shstrtab, .comment):
            // moved up behind them.
            let (offset, size) = (u64_at(entry, 24)?, u64_at(entry, 32)?);
            let align = u64_at(entry, 48)?.max(1);
            out.resize(usize::try_from((out.len() as u64).div_ceil(align) * align).ok()?, 0);
            let new_offset = out.len() as u64;
            out.extend_from_slice(elf.get(usize::try_from(offset).ok()?..usize::try_from(offset + size).ok()?)?);
            entry[24..32].copy_from_slice(&new_offset.to_le_bytes());
        }
    }
    out.resize(out.len().div_ceil(8) * 8, 0);
    let new_shoff = out.len() as u64;
    out.extend_from_slice(&headers);
    out[0x28..0x30].copy_from_slice(&new_shoff.to_le_bytes());
    Some(out)
}
