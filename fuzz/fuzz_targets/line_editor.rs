//! Fuzz target: the shell's line editor, fed any bytes, as a serial port
//! would deliver them.
//!
//! Three checks per byte. The editor must do what a reference editor
//! written here does (same event, same echo, same submitted line): the
//! reference keeps its history in a plain `Vec`, where the kernel uses a
//! ring buffer. What the echo draws on a model terminal must be the line
//! being edited, and backspaces must never reach into the prompt. And every
//! submitted line must be printable ASCII that fits `LINE_MAX`, and runs on
//! the test command table without a multi-line error.
//!
//! The input is mostly fed as it is, but the bytes 0xf8-0xff stand for
//! fragments of escape sequences (whole, cut short, or with a control byte
//! inside), so that the fuzzer meets them far more often than by chance.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mosaic_fuzz::check_execute;
use mosaic_kernel::shell::line::{Event, LineEditor, TooLong, HISTORY, LINE_MAX};

/// What the bytes 0xf8-0xff expand to.
const FRAGMENTS: [&[u8]; 8] = [b"\x1b", b"\x1b[", b"\x1b[A", b"\x1b[B", b"\x1b[1;5", b"\x1bO", b"\r\n", b"\t"];

fn expand(data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(data.len());
    for &b in data {
        match b {
            0xf8..=0xff => bytes.extend_from_slice(FRAGMENTS[(b - 0xf8) as usize]),
            _ => bytes.push(b),
        }
    }
    bytes
}

fuzz_target!(|data: &[u8]| {
    let mut editor = LineEditor::new();
    let mut reference = RefEditor::default();
    let mut screen = Screen::default();
    for byte in expand(data) {
        let mut echo = Vec::new();
        let event = editor.feed(byte, &mut |bytes: &[u8]| echo.extend_from_slice(bytes));
        let mut want_echo = Vec::new();
        let want = reference.feed(byte, &mut want_echo);
        assert_eq!(event, want, "event for byte {byte:#04x}");
        assert_eq!(echo, want_echo, "echo for byte {byte:#04x}");
        screen.draw(&echo);
        match event {
            Event::Pending => screen.shows(&reference.line),
            Event::Submitted => submitted(editor.line(), &reference),
            Event::Cancelled => {}
        }
    }
});

fn submitted(line: Result<&str, TooLong>, reference: &RefEditor) {
    if reference.overflow {
        assert_eq!(line, Err(TooLong));
        return;
    }
    let line = line.expect("a line that fits was reported too long");
    assert_eq!(line.as_bytes(), reference.line.as_slice());
    assert!(line.len() <= LINE_MAX && line.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{line:?}");
    check_execute(line);
}

/// One row of a terminal: what the echo has drawn since the last newline.
#[derive(Default)]
struct Screen {
    row: Vec<u8>,
    cursor: usize,
}

impl Screen {
    fn draw(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                0x20..=0x7e if self.cursor < self.row.len() => self.row[self.cursor] = b,
                0x20..=0x7e => self.row.push(b),
                0x08 => assert!(self.cursor > 0, "backspace into the prompt"),
                b'\r' => self.cursor = 0,
                b'\n' => self.row.clear(),
                _ => panic!("echoed a control byte {b:#04x}"),
            }
            self.cursor = match b {
                0x20..=0x7e => self.cursor + 1,
                0x08 => self.cursor - 1,
                _ => self.cursor,
            };
        }
    }

    /// The row must read `line`, followed by nothing but erased cells.
    fn shows(&self, line: &[u8]) {
        assert_eq!(&self.row[..self.cursor], line, "screen differs from the line");
        assert!(self.row[self.cursor..].iter().all(|&b| b == b' '), "erased text still visible");
    }
}

#[derive(Default, Clone, Copy, PartialEq)]
enum Escape {
    #[default]
    None,
    Esc,
    Csi,
}

/// The editor as the table at the top of the kernel's line.rs describes it.
#[derive(Default)]
struct RefEditor {
    line: Vec<u8>,
    overflow: bool,
    done: bool,
    after_cr: bool,
    escape: Escape,
    /// Oldest first, at most HISTORY lines.
    history: Vec<Vec<u8>>,
    /// Steps back into the history: 0 is a fresh line.
    browsing: usize,
}

impl RefEditor {
    fn feed(&mut self, byte: u8, echo: &mut Vec<u8>) -> Event {
        // A new line starts with the first byte after Enter or Ctrl-C. That
        // byte may still be the `\n` of a `\r\n`, so `after_cr` survives.
        if self.done {
            (self.line, self.overflow, self.done, self.browsing) = (Vec::new(), false, false, 0);
        }
        let after_cr = core::mem::replace(&mut self.after_cr, byte == b'\r');
        // Inside a sequence: `[`/`O` after ESC, parameters and a final byte
        // belong to it; any other byte ends it and is a key of its own.
        let in_sequence = match self.escape {
            Escape::None => false,
            Escape::Esc => byte == b'[' || byte == b'O',
            Escape::Csi => (0x20..=0x7e).contains(&byte),
        };
        if in_sequence {
            let open = self.escape == Escape::Esc || (0x20..=0x3f).contains(&byte);
            self.escape = if open { Escape::Csi } else { Escape::None };
            match (open, byte) {
                (false, b'A') => self.recall(self.browsing + 1, echo),
                (false, b'B') => self.recall(self.browsing.saturating_sub(1), echo),
                _ => {}
            }
            return Event::Pending;
        }
        self.escape = Escape::None;
        let byte = if byte == b'\t' { b' ' } else { byte };
        match byte {
            b'\n' if after_cr => Event::Pending,
            b'\r' | b'\n' => {
                echo.extend_from_slice(b"\r\n");
                self.remember();
                self.done = true;
                Event::Submitted
            }
            0x03 => {
                echo.extend_from_slice(b"^C\r\n");
                self.done = true;
                Event::Cancelled
            }
            0x08 | 0x7f => self.erase(1, echo),
            0x15 => self.erase(self.line.len(), echo),
            0x1b => {
                self.escape = Escape::Esc;
                Event::Pending
            }
            0x20..=0x7e if self.line.len() < LINE_MAX => {
                self.line.push(byte);
                echo.push(byte);
                Event::Pending
            }
            0x20..=0x7e => {
                self.overflow = true;
                Event::Pending
            }
            _ => Event::Pending,
        }
    }

    fn erase(&mut self, n: usize, echo: &mut Vec<u8>) -> Event {
        for _ in 0..n.min(self.line.len()) {
            self.line.pop();
            echo.extend_from_slice(b"\x08 \x08");
        }
        if self.line.len() < LINE_MAX {
            self.overflow = false;
        }
        Event::Pending
    }

    fn recall(&mut self, back: usize, echo: &mut Vec<u8>) {
        if back > self.history.len() {
            return;
        }
        self.erase(self.line.len(), echo);
        self.browsing = back;
        if back > 0 {
            self.line = self.history[self.history.len() - back].clone();
            echo.extend_from_slice(&self.line);
        }
    }

    /// Keeps a submitted line unless it is too long, blank, or a repeat.
    fn remember(&mut self) {
        let blank = self.line.iter().all(|&b| b == b' ');
        if self.overflow || blank || self.history.last() == Some(&self.line) {
            return;
        }
        if self.history.len() == HISTORY {
            self.history.remove(0);
        }
        self.history.push(self.line.clone());
    }
}
