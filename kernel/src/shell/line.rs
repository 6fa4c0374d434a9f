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
mod tests {
    use super::*;

    /// An event with the line as it stood then.
    type Seen = (Event, Result<String, TooLong>);

    /// Feeds `input`, returns the events that were not Pending and the echo.
    fn run(ed: &mut LineEditor, input: &[u8]) -> (Vec<Seen>, Vec<u8>) {
        let mut shown = Vec::new();
        let mut events = Vec::new();
        for &b in input {
            let ev = ed.feed(b, &mut |bytes: &[u8]| shown.extend_from_slice(bytes));
            if ev != Event::Pending {
                let line = ed.line().map(String::from);
                events.push((ev, line));
            }
        }
        (events, shown)
    }

    fn lines(ed: &mut LineEditor, input: &[u8]) -> Vec<String> {
        run(ed, input).0.into_iter().filter(|(e, _)| *e == Event::Submitted).map(|(_, l)| l.unwrap()).collect()
    }

    #[test]
    fn enter_submits_once_for_crlf() {
        let mut ed = LineEditor::new();
        assert_eq!(lines(&mut ed, b"help\r\necho a\nx\r"), ["help", "echo a", "x"]);
    }

    #[test]
    fn backspace_and_ctrl_u() {
        let mut ed = LineEditor::new();
        let (_, shown) = run(&mut ed, b"ab\x7f");
        assert_eq!(shown, b"ab\x08 \x08");
        assert_eq!(lines(&mut ed, b"c\x08d\n"), ["ad"]);
        assert_eq!(lines(&mut ed, b"junk\x15ok\n"), ["ok"]);
        assert_eq!(lines(&mut ed, b"\x7f\x7f\n"), [""]);
    }

    #[test]
    fn ctrl_c_abandons_the_line() {
        let mut ed = LineEditor::new();
        let (events, shown) = run(&mut ed, b"rm\x03");
        assert_eq!(events[0].0, Event::Cancelled);
        assert!(shown.ends_with(b"^C\r\n"));
        assert_eq!(lines(&mut ed, b"ls\n"), ["ls"]);
    }

    #[test]
    fn history_up_and_down() {
        let mut ed = LineEditor::new();
        lines(&mut ed, b"one\ntwo\n\nthree\nthree\n");
        assert_eq!(lines(&mut ed, b"\x1b[A\n"), ["three"]);
        assert_eq!(lines(&mut ed, b"\x1b[A\x1b[A\n"), ["two"]);
        // Up past the oldest stays on the oldest; Down to the end gives "".
        assert_eq!(lines(&mut ed, b"\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A\n"), ["one"]);
        assert_eq!(lines(&mut ed, b"\x1b[A\x1b[B\n"), [""]);
        assert_eq!(lines(&mut ed, b"x\x1b[A\x1b[B\n"), [""]);
    }

    #[test]
    fn history_keeps_the_newest_entries() {
        let mut ed = LineEditor::new();
        for i in 0..40 {
            lines(&mut ed, format!("cmd{i}\n").as_bytes());
        }
        let up = b"\x1b[A".repeat(HISTORY + 3);
        assert_eq!(lines(&mut ed, &[up.as_slice(), b"\n"].concat()), [format!("cmd{}", 40 - HISTORY)]);
    }

    #[test]
    fn other_escapes_and_controls_are_ignored() {
        let mut ed = LineEditor::new();
        assert_eq!(lines(&mut ed, b"a\x1b[C\x1b[1;5D\x01\x02b\xffc\n"), ["abc"]);
    }

    #[test]
    fn a_cut_short_escape_never_swallows_enter() {
        let mut ed = LineEditor::new();
        assert_eq!(lines(&mut ed, b"help\x1b\r"), ["help"]);
        assert_eq!(lines(&mut ed, b"echo a\x1b[\n"), ["echo a"]);
        assert_eq!(lines(&mut ed, b"echo b\x1b[1;\r\n"), ["echo b"]);
        // A lone ESC before a letter types the letter; two ESCs, then a
        // complete sequence, still work; Backspace inside a sequence erases.
        assert_eq!(lines(&mut ed, b"\x1bls\n"), ["ls"]);
        assert_eq!(lines(&mut ed, b"x\x1b\x1b[Cy\n"), ["xy"]);
        assert_eq!(lines(&mut ed, b"ab\x1b[\x7fc\n"), ["ac"]);
        let (events, _) = run(&mut ed, b"rm\x1b[\x03");
        assert_eq!(events[0].0, Event::Cancelled);
    }

    #[test]
    fn tab_separates_words() {
        let mut ed = LineEditor::new();
        let (_, shown) = run(&mut ed, b"echo\tone\n");
        assert_eq!(shown, b"echo one\r\n");
        assert_eq!(lines(&mut ed, b"echo\tone\n"), ["echo one"]);
    }

    #[test]
    fn an_overlong_line_erased_below_the_limit_is_what_the_terminal_shows() {
        let mut ed = LineEditor::new();
        let mut input = vec![b'x'; LINE_MAX + 10];
        input.extend_from_slice(b"\x7f\x7f\n");
        let got = lines(&mut ed, &input);
        assert_eq!(got, ["x".repeat(LINE_MAX - 2)]);
    }

    #[test]
    fn overlong_line_is_reported_not_truncated() {
        let mut ed = LineEditor::new();
        let long = vec![b'x'; 4096];
        let (events, _) = run(&mut ed, &[long.as_slice(), b"\n"].concat());
        assert_eq!(events, [(Event::Submitted, Err(TooLong))]);
        assert_eq!(lines(&mut ed, b"ok\n"), ["ok"]);
        // Overlong lines are not kept in the history.
        assert_eq!(lines(&mut ed, b"\x1b[A\x1b[A\n"), ["ok"]);
    }
}
