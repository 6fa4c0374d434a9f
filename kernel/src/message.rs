//! A short message in a fixed buffer: how a command or a benchmark says
//! what went wrong without needing the heap (which may be what failed).
//!
//! A leaf: the shell's `CmdError` is this type, and `bench/` returns it
//! too, so neither has to import the other.

use core::fmt;

/// Up to 160 bytes of text; what does not fit is cut at a character
/// boundary.
pub struct Message {
    buf: [u8; 160],
    len: usize,
}

impl Message {
    pub fn new(args: fmt::Arguments) -> Self {
        let mut e = Message { buf: [0; 160], len: 0 };
        let _ = fmt::write(&mut e, args);
        e
    }

    /// The error of a call that was made, as the message.
    pub fn from_display(e: impl fmt::Display) -> Self {
        Message::new(format_args!("{e}"))
    }
}

impl fmt::Write for Message {
    /// Appends what fits; the rest is cut off.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut n = s.len().min(self.buf.len() - self.len);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Honours width and alignment (`{:<16}`), so a message can also serve as
/// a padded table cell without the heap.
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.pad(core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?"))
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Returns early with `Err(Message)` made from a format string: a
/// command's `error: <message>`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::message::Message::new(format_args!($($arg)*)))
    };
}
