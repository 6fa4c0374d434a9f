//! The symbol table the build puts into the kernel image, and lookups in it.
//!
//! `cargo xtask` builds the kernel, reads the unstripped ELF on the host
//! (function symbols, DWARF line tables, the `// LAB n` markers of the
//! sources) and writes a compact table into `TABLE` in the ELF file itself
//! (xtask/src/symtab.rs). `TABLE` is an allocated section, so it survives
//! the stripping of the image's debug info and symbols, and the oops can
//! name functions and lines without any host tool.
//!
//! Layout (little-endian; offsets are from the table's start):
//!
//! | at | what |
//! |----|------|
//! | 0  | magic `MOSYMTAB` (`MOSYMNIL` while not filled in) |
//! | 8  | u64 base: the lowest function address |
//! | 16 | u32 count and u32 offset of the functions, 16 bytes each, by address: u32 start - base, u32 size, u32 name, u32 line rows |
//! | 24 | u32 count and offset of the files: u32 name each |
//! | 32 | u32 count and offset of the LAB ranges: u32 file, u32 lab, u32 first line, u32 last line |
//! | 40 | u32 offset of the strings (u8 length, then UTF-8) |
//! | 44 | u32 offset of the line rows |
//! | 48 | u64 the table's own link address (the load bias is its address now minus this) |
//!
//! A function's line rows: a varint count, then per row a varint
//! `address delta << 1 | file changed`, the new file's index if it
//! changed, and the zigzag varint line delta; the first row starts from
//! the function's start, file 0 and line 0.

/// Bytes reserved for the table: xtask fails the build, saying so, if the
/// table outgrows it. The debug kernel has about 6700 functions (430 KB of
/// table), the release kernel, with most of them inlined, about 1000. Every
/// reserved byte is loaded at boot, so the reserve stays close to the need.
#[cfg(debug_assertions)]
pub const TABLE_SIZE: usize = 512 * 1024;
#[cfg(not(debug_assertions))]
pub const TABLE_SIZE: usize = 128 * 1024;
/// The magic of a filled-in table.
pub const MAGIC: &[u8; 8] = b"MOSYMTAB";

/// The placeholder the build overwrites. Its first bytes are not zero, so
/// the section gets file contents (a zero-filled static could become
/// NOBITS, with nothing in the file to overwrite).
#[cfg(target_os = "none")]
#[used]
#[unsafe(link_section = ".mosaic_symtab")]
static TABLE: [u8; TABLE_SIZE] = placeholder();

#[cfg(target_os = "none")]
const fn placeholder() -> [u8; TABLE_SIZE] {
    let mut t = [0u8; TABLE_SIZE];
    let nil = b"MOSYMNIL";
    let mut i = 0;
    while i < nil.len() {
        t[i] = nil[i];
        i += 1;
    }
    t
}

/// The table in this kernel, if the build filled it in.
#[cfg(target_os = "none")]
pub fn table() -> Option<Table<'static>> {
    // The compiler knows `TABLE`'s initial contents; black_box hides them,
    // so that the bytes are read from memory, where the build wrote them.
    let ptr = core::hint::black_box(TABLE.as_ptr());
    // SAFETY: `ptr` points at `TABLE`, TABLE_SIZE bytes that live forever.
    let table = Table::new(unsafe { core::slice::from_raw_parts(ptr, TABLE_SIZE) })?;
    // The bootloader loads the kernel (a PIE) above where it was linked.
    let bias = (ptr as u64).wrapping_sub(table.u64_at(48)?);
    Some(Table { bias, ..table })
}

/// A table's bytes, checked for the magic.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    bytes: &'a [u8],
    /// Run-time address minus link address.
    bias: u64,
}

/// What the table says about one address.
pub struct Symbol<'a> {
    pub name: &'a str,
    /// Bytes from the function's start.
    pub offset: u64,
    /// File and line, if the function has line rows.
    pub line: Option<(&'a str, u32)>,
    /// The lab whose `// LAB n` region holds that line.
    pub lab: Option<u32>,
}

impl<'a> Table<'a> {
    pub fn new(bytes: &'a [u8]) -> Option<Table<'a>> {
        (bytes.get(..8)? == MAGIC).then_some(Table { bytes, bias: 0 })
    }

    fn u32_at(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes.get(at..at + 4)?.try_into().ok()?))
    }

    fn u64_at(&self, at: usize) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes.get(at..at + 8)?.try_into().ok()?))
    }

    /// Record `i` of the array whose count and offset are at `header`.
    fn record(&self, header: usize, size: usize, i: usize) -> Option<usize> {
        let count = self.u32_at(header)? as usize;
        (i < count).then(|| self.u32_at(header + 4).map(|o| o as usize + i * size))?
    }

    fn string(&self, offset: u32) -> Option<&'a str> {
        let at = self.u32_at(40)? as usize + offset as usize;
        let len = *self.bytes.get(at)? as usize;
        core::str::from_utf8(self.bytes.get(at + 1..at + 1 + len)?).ok()
    }

    /// The function holding `addr` and the line of `addr` in it.
    pub fn lookup(&self, addr: u64) -> Option<Symbol<'a>> {
        let rel = addr.wrapping_sub(self.bias).checked_sub(self.u64_at(8)?)?;
        let count = self.u32_at(16)? as usize;
        // The last function starting at or below `rel`.
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if u64::from(self.u32_at(self.record(16, 16, mid)?)?) <= rel {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let f = self.record(16, 16, lo.checked_sub(1)?)?;
        let (start, size) = (u64::from(self.u32_at(f)?), u64::from(self.u32_at(f + 4)?));
        if rel >= start + size.max(1) {
            return None;
        }
        let name = self.string(self.u32_at(f + 8)?)?;
        let line = self.line(self.u32_at(f + 12)? as usize, start, rel);
        let lab = line.and_then(|(file, line)| self.lab(file, line));
        let line = line.and_then(|(file, line)| Some((self.string(self.u32_at(self.record(24, 4, file)?)?)?, line)));
        Some(Symbol { name, offset: rel - start, line, lab })
    }

    /// The (file index, line) of the last row at or below `rel`.
    fn line(&self, rows: usize, start: u64, rel: u64) -> Option<(usize, u32)> {
        let mut r = Reader { bytes: self.bytes, at: self.u32_at(44)? as usize + rows };
        let count = r.varint()?;
        let (mut addr, mut file, mut line) = (start, 0usize, 0i64);
        let mut found = None;
        for _ in 0..count {
            let head = r.varint()?;
            addr += head >> 1;
            if head & 1 != 0 {
                file = r.varint()? as usize;
            }
            let delta = r.varint()?;
            line += ((delta >> 1) as i64) ^ -((delta & 1) as i64);
            if addr > rel {
                break;
            }
            found = Some((file, u32::try_from(line).ok()?));
        }
        found
    }

    /// The lab whose region in `file` holds `line`.
    fn lab(&self, file: usize, line: u32) -> Option<u32> {
        let count = self.u32_at(32)? as usize;
        (0..count).find_map(|i| {
            let r = self.record(32, 16, i)?;
            let hit = self.u32_at(r)? as usize == file && (self.u32_at(r + 8)?..=self.u32_at(r + 12)?).contains(&line);
            if hit {
                self.u32_at(r + 4)
            } else {
                None
            }
        })
    }
}

/// Reads LEB128 varints.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::vec::Vec;

    /// A table with one function at 0x1000..0x1040 of two rows, and a LAB
    /// range over line 11, written by hand the way xtask writes it.
    fn sample() -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(MAGIC);
        t.extend_from_slice(&0x1000u64.to_le_bytes());
        let le = |v: u32| v.to_le_bytes();
        // functions at 56, files at 72, labs at 76, strings at 92, rows at 104
        for v in [1, 56, 1, 72, 1, 76, 92, 104] {
            t.extend_from_slice(&le(v));
        }
        t.extend_from_slice(&0u64.to_le_bytes());
        for v in [0, 0x40, 0, 0] {
            t.extend_from_slice(&le(v));
        }
        t.extend_from_slice(&le(5));
        for v in [0, 2, 11, 11] {
            t.extend_from_slice(&le(v));
        }
        t.push(4);
        t.extend_from_slice(b"main");
        t.push(6);
        t.extend_from_slice(b"a/b.rs");
        // two rows: +0 file 0 line 10; +0x20 line 11
        t.extend_from_slice(&[2, 0b1, 0, 20, 0x40, 2]);
        t
    }

    #[test]
    fn finds_function_line_and_lab() {
        let bytes = sample();
        let t = Table::new(&bytes).unwrap();
        let s = t.lookup(0x1010).unwrap();
        assert_eq!((s.name, s.offset, s.line, s.lab), ("main", 0x10, Some(("a/b.rs", 10)), None));
        let s = t.lookup(0x1030).unwrap();
        assert_eq!((s.line, s.lab), (Some(("a/b.rs", 11)), Some(2)));
        assert!(t.lookup(0x1040).is_none() && t.lookup(0xfff).is_none());
    }

    #[test]
    fn rejects_the_placeholder() {
        assert!(Table::new(b"MOSYMNIL\0\0\0\0").is_none());
    }
}
