//! QEMU's firmware configuration device (fw_cfg), used as a kernel command line.
//!
//! The bootloader passes no command line, so the host hands options to the
//! kernel as an fw_cfg file: `-fw_cfg name=opt/mosaic/cmdline,string=ktest`.
//! The legacy interface is two I/O ports: write a 16-bit item selector to
//! 0x510, then read the item byte by byte from 0x511. Item 0x19 is the file
//! directory: a big-endian u32 count, then 64-byte entries
//! `{ size: u32 BE, select: u16 BE, reserved: u16, name: [u8; 56] }`.

use x86_64::instructions::port::Port;

const SELECTOR: u16 = 0x510;
const DATA: u16 = 0x511;
const SIGNATURE: u16 = 0x0000;
const FILE_DIR: u16 = 0x0019;
const CMDLINE_FILE: &[u8] = b"opt/mosaic/cmdline";

/// Longest command line read, in bytes (Linux's x86 COMMAND_LINE_SIZE is
/// 2048). A longer one is cut here and said so at boot, never silently.
pub const CMDLINE_MAX: usize = 4096;

/// Space-separated options such as `ktest=buddy panic=exit` (cmdline.rs
/// says which there are).
pub struct Cmdline {
    buf: [u8; CMDLINE_MAX],
    len: usize,
    /// The size of the fw_cfg file, which may exceed what was read.
    size: usize,
}

impl Cmdline {
    /// True if `word` appears on its own.
    pub fn has(&self, word: &str) -> bool {
        self.as_str().split_whitespace().any(|w| w == word)
    }

    /// The value of the first `key=value` word.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.as_str().split_whitespace().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    /// The text read, up to the first byte that is not UTF-8 (if any).
    pub fn as_str(&self) -> &str {
        let bytes = &self.buf[..self.len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            // SAFETY: from_utf8 checked every byte before valid_up_to.
            Err(e) => unsafe { core::str::from_utf8_unchecked(&bytes[..e.valid_up_to()]) },
        }
    }

    /// What was not read, in words, if anything: a line cut at
    /// `CMDLINE_MAX`, or bytes from the first one that is not UTF-8.
    pub fn problem(&self) -> Option<(usize, &'static str)> {
        if self.as_str().len() < self.len {
            Some((self.as_str().len(), "is not UTF-8; the rest is ignored"))
        } else if self.size > self.len {
            Some((self.len, "is past the 4096-byte limit; the rest is ignored"))
        } else {
            None
        }
    }
}

/// Reads the command line; empty when there is no fw_cfg or no such file.
pub fn cmdline() -> Cmdline {
    let mut line = Cmdline { buf: [0; CMDLINE_MAX], len: 0, size: 0 };
    if let Some((select, size)) = find_file(CMDLINE_FILE) {
        line.size = size as usize;
        line.len = line.size.min(CMDLINE_MAX);
        select_item(select);
        line.buf[..line.len].iter_mut().for_each(|b| *b = read_u8());
    }
    line
}

fn find_file(name: &[u8]) -> Option<(u16, u32)> {
    select_item(SIGNATURE);
    if [read_u8(), read_u8(), read_u8(), read_u8()] != *b"QEMU" {
        return None;
    }
    select_item(FILE_DIR);
    let count = read_be32();
    for _ in 0..count {
        let size = read_be32();
        let select = (read_u8() as u16) << 8 | read_u8() as u16;
        let _reserved = (read_u8(), read_u8());
        let mut entry = [0u8; 56];
        entry.iter_mut().for_each(|b| *b = read_u8());
        let len = entry.iter().position(|&b| b == 0).unwrap_or(56);
        if &entry[..len] == name {
            return Some((select, size));
        }
    }
    None
}

fn select_item(item: u16) {
    // SAFETY: 0x510 is fw_cfg's selector port; without the device the write
    // goes nowhere.
    unsafe { Port::<u16>::new(SELECTOR).write(item) }
}

fn read_u8() -> u8 {
    // SAFETY: 0x511 is fw_cfg's data port; reading it has no side effect
    // beyond advancing the offset into the selected item.
    unsafe { Port::<u8>::new(DATA).read() }
}

fn read_be32() -> u32 {
    u32::from_be_bytes([read_u8(), read_u8(), read_u8(), read_u8()])
}
