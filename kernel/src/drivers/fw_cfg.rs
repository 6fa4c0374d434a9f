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

/// Space-separated options such as `ktest=buddy panic=exit`.
pub struct Cmdline {
    buf: [u8; 256],
    len: usize,
}

impl Cmdline {
    fn words(&self) -> impl Iterator<Item = &str> {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("").split_whitespace()
    }

    /// True if `word` appears on its own.
    pub fn has(&self, word: &str) -> bool {
        self.words().any(|w| w == word)
    }

    /// The value of the first `key=value` word.
    pub fn value(&self, key: &str) -> Option<&str> {
        self.words().find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

/// Reads the command line; empty when there is no fw_cfg or no such file.
pub fn cmdline() -> Cmdline {
    let mut line = Cmdline { buf: [0; 256], len: 0 };
    if let Some((select, size)) = find_file(CMDLINE_FILE) {
        line.len = (size as usize).min(line.buf.len());
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
