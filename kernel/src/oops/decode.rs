//! Exception error codes in words (Intel SDM vol. 3, 6.13 and 4.7).
//!
//! Pure functions of the code, so they build and are tested on the host.

use core::fmt;

/// A page-fault error code: which access, to what kind of page, from
/// which mode, and the rarer bits when set.
pub struct PageFaultCode(pub u64);

impl fmt::Display for PageFaultCode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let bit = |n: u32| self.0 & (1 << n) != 0;
        let access = match (bit(4), bit(1)) {
            (true, _) => "instruction fetch",
            (false, true) => "write",
            (false, false) => "read",
        };
        let page = if bit(0) { "present page (a protection violation)" } else { "not-present page" };
        let mode = if bit(2) { "user mode" } else { "kernel mode" };
        write!(f, "{access}, {page}, {mode}")?;
        if bit(3) {
            write!(f, ", reserved bit set in a page-table entry")?;
        }
        if bit(5) {
            write!(f, ", protection key")?;
        }
        if bit(6) {
            write!(f, ", shadow stack")?;
        }
        Ok(())
    }
}

/// The error code of #TS, #NP, #SS and #GP: a segment selector or an IDT
/// vector (bit 1), with the EXT bit; 0 when the fault is not about one.
pub struct SelectorCode(pub u64);

impl fmt::Display for SelectorCode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let code = self.0;
        if code == 0 {
            return write!(f, "no selector (e.g. a non-canonical address or a privileged instruction)");
        }
        let index = (code >> 3) & 0x1fff;
        match (code & 2 != 0, code & 4 != 0) {
            (true, _) => write!(f, "IDT entry {index} (vector {index})")?,
            (false, false) => write!(f, "GDT selector index {index} (selector {:#x})", code & 0xfff8)?,
            (false, true) => write!(f, "LDT selector index {index} (selector {:#x})", code & 0xfff8 | 4)?,
        }
        let source = if code & 1 != 0 { "external event" } else { "raised by the instruction" };
        write!(f, ", {source}")
    }
}

/// The error code of `vector` in words, if that vector's code means more
/// than its number.
pub fn describe(vector: u64, code: u64, f: &mut fmt::Formatter) -> fmt::Result {
    match vector {
        14 => write!(f, " = {}", PageFaultCode(code)),
        10..=13 => write!(f, " = {}", SelectorCode(code)),
        8 => write!(f, " (always 0 for #DF)"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn page_fault_words() {
        assert_eq!(PageFaultCode(0).to_string(), "read, not-present page, kernel mode");
        assert_eq!(PageFaultCode(3).to_string(), "write, present page (a protection violation), kernel mode");
        assert_eq!(
            PageFaultCode(0x11).to_string(),
            "instruction fetch, present page (a protection violation), kernel mode"
        );
        assert_eq!(
            PageFaultCode(0xc).to_string(),
            "read, not-present page, user mode, reserved bit set in a page-table entry"
        );
    }

    #[test]
    fn selector_words() {
        assert!(SelectorCode(0).to_string().starts_with("no selector"));
        assert_eq!(SelectorCode(0x10).to_string(), "GDT selector index 2 (selector 0x10), raised by the instruction");
        assert_eq!(SelectorCode(0x1b).to_string(), "IDT entry 3 (vector 3), external event");
        assert_eq!(SelectorCode(0x0c).to_string(), "LDT selector index 1 (selector 0xc), raised by the instruction");
    }
}
