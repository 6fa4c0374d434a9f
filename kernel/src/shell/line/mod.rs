//! A line editor for a serial terminal, independent of any hardware.
//!
//! Bytes go in one at a time through [`LineEditor::feed`]; what the terminal
//! should show (echo, erasures) comes out through a callback, and the caller
//! learns when a line is complete or abandoned. Keys handled:
//!
//! | key                | byte(s)          | effect                          |
//! |--------------------|------------------|---------------------------------|
//! | Enter              | `\r` or `\n`     | submit (`\r\n` counts once)     |
//! | Backspace          | `0x7f` or `0x08` | erase the last character        |
//! | Ctrl-U             | `0x15`           | erase the whole line            |
//! | Ctrl-C             | `0x03`           | abandon the line                |
//! | Tab                | `0x09`           | a space (it separates words)    |
//! | Up / Down          | `ESC [ A`/`ESC [ B` | walk the history             |
//!
//! Other control bytes and escape sequences are ignored. An escape sequence
//! is `ESC`, then `[` or `O`, parameter bytes (0x20-0x3f) and one final byte
//! (0x40-0x7e), as ECMA-48 has it. Anything else ends it early and counts as
//! the key it is: ESC then Enter submits the line, a lone ESC before a
//! letter types the letter, and a control byte inside a half-sent sequence
//! (Enter, Backspace, Ctrl-C, a second ESC) does what it always does. So no
//! key is ever swallowed by a sequence that was cut short.
//!
//! A line longer than `LINE_MAX` is not truncated silently: the bytes past
//! the limit are neither stored nor echoed, and Enter reports the line as
//! too long. Erasing anything first forgets them, since the terminal never
//! showed them: the line is then exactly what the terminal shows.

/// Longest line accepted, in bytes.
pub const LINE_MAX: usize = 255;
/// Lines kept in the history.
pub const HISTORY: usize = 16;

/// What a byte did to the line.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing to act on yet.
    Pending,
    /// Enter was pressed; read the line with [`LineEditor::line`].
    Submitted,
    /// Ctrl-C: the line was thrown away.
    Cancelled,
}

/// The line was longer than [`LINE_MAX`].
#[derive(Debug, PartialEq, Eq)]
pub struct TooLong;

#[derive(Clone, Copy)]
struct Line {
    buf: [u8; LINE_MAX],
    len: usize,
}

impl Line {
    const EMPTY: Line = Line { buf: [0; LINE_MAX], len: 0 };

    fn as_str(&self) -> &str {
        // Only printable ASCII is ever stored.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Esc,
    Csi,
}

pub struct LineEditor {
    line: Line,
    overflow: bool,
    done: bool,
    after_cr: bool,
    escape: Escape,
    history: [Line; HISTORY],
    /// Number of lines stored, up to HISTORY; the newest is at `newest`.
    stored: usize,
    newest: usize,
    /// How far back Up has gone: 0 = editing a fresh line.
    browsing: usize,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub const fn new() -> Self {
        LineEditor {
            line: Line::EMPTY,
            overflow: false,
            done: false,
            after_cr: false,
            escape: Escape::None,
            history: [Line::EMPTY; HISTORY],
            stored: 0,
            newest: 0,
            browsing: 0,
        }
    }

    /// The submitted line, valid after `feed` returned `Submitted` and until
    /// the next call to `feed`.
    pub fn line(&self) -> Result<&str, TooLong> {
        if self.overflow {
            Err(TooLong)
        } else {
            Ok(self.line.as_str())
        }
    }

    /// Processes one input byte; `echo` receives the bytes to display.
    pub fn feed(&mut self, byte: u8, echo: &mut impl FnMut(&[u8])) -> Event {
        if self.done {
            self.done = false;
            self.clear();
        }
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        if self.escape != Escape::None && self.escape_byte(byte, echo) {
            return Event::Pending;
        }
        match byte {
            b'\n' if after_cr => Event::Pending,
            b'\r' | b'\n' => {
                echo(b"\r\n");
                self.remember();
                self.done = true;
                Event::Submitted
            }
            0x03 => {
                echo(b"^C\r\n");
                self.done = true;
                Event::Cancelled
            }
            0x08 | 0x7f => {
                self.erase(1, echo);
                Event::Pending
            }
            0x15 => {
                self.erase(self.line.len, echo);
                Event::Pending
            }
            0x1b => {
                self.escape = Escape::Esc;
                Event::Pending
            }
            b'\t' => {
                self.insert(b' ', echo);
                Event::Pending
            }
            0x20..=0x7e => {
                self.insert(byte, echo);
                Event::Pending
            }
            _ => Event::Pending,
        }
    }

    fn clear(&mut self) {
        self.line.len = 0;
        self.overflow = false;
        self.browsing = 0;
    }

    fn insert(&mut self, byte: u8, echo: &mut impl FnMut(&[u8])) {
        if self.line.len < LINE_MAX {
            self.line.buf[self.line.len] = byte;
            self.line.len += 1;
            echo(&[byte]);
        } else {
            // Keep reading to the end of the line, then report it.
            self.overflow = true;
        }
    }

    /// Erases `n` characters from the end, on screen too.
    fn erase(&mut self, n: usize, echo: &mut impl FnMut(&[u8])) {
        for _ in 0..n.min(self.line.len) {
            self.line.len -= 1;
            echo(b"\x08 \x08");
        }
        // Bytes past LINE_MAX were never shown: once the user erases,
        // the line is what the terminal shows.
        if self.line.len < LINE_MAX {
            self.overflow = false;
        }
    }

    /// One byte while an escape sequence is open: ESC `[` (or ESC `O`),
    /// parameter bytes, then one final byte. Returns false if the byte is
    /// not part of the sequence, which then ends, and the caller handles
    /// the byte as a key of its own.
    fn escape_byte(&mut self, byte: u8, echo: &mut impl FnMut(&[u8])) -> bool {
        let (next, consumed) = match (self.escape, byte) {
            (Escape::Esc, b'[' | b'O') => (Escape::Csi, true),
            (Escape::Csi, 0x20..=0x3f) => (Escape::Csi, true),
            (Escape::Csi, b'A') => {
                self.recall(self.browsing + 1, echo);
                (Escape::None, true)
            }
            (Escape::Csi, b'B') => {
                self.recall(self.browsing.saturating_sub(1), echo);
                (Escape::None, true)
            }
            // Any other final byte: a key this editor does not use.
            (Escape::Csi, 0x40..=0x7e) => (Escape::None, true),
            // A lone ESC, or a sequence cut short: the byte is a key.
            _ => (Escape::None, false),
        };
        self.escape = next;
        consumed
    }

    /// Replaces the line with the entry `back` steps into the history
    /// (0 = an empty line).
    fn recall(&mut self, back: usize, echo: &mut impl FnMut(&[u8])) {
        if back > self.stored {
            return;
        }
        self.erase(self.line.len, echo);
        self.browsing = back;
        if back > 0 {
            let index = (self.newest + HISTORY - (back - 1)) % HISTORY;
            self.line = self.history[index];
            echo(&self.line.buf[..self.line.len]);
        }
    }

    /// Adds the submitted line to the history (not blanks, not repeats).
    fn remember(&mut self) {
        let text = self.line.as_str();
        if self.overflow || text.trim().is_empty() {
            return;
        }
        if self.stored > 0 && self.history[self.newest].as_str() == text {
            return;
        }
        self.newest = if self.stored == 0 { 0 } else { (self.newest + 1) % HISTORY };
        self.history[self.newest] = self.line;
        self.stored = (self.stored + 1).min(HISTORY);
    }
}

#[cfg(test)]
mod tests;
