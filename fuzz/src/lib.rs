//! What the shell fuzz targets share: reference versions of the shell's
//! parsers, written as plainly as possible and independently of the
//! kernel's, and a small command table whose commands check the parsers
//! against them.
//!
//! The references work on bytes and accumulate digits in 128 bits, where
//! the kernel's parsers lean on `str` methods and `from_str_radix`; two
//! different routes to the same answer.

// Test commands have the kernel's signature, whose error is a 168-byte
// buffer on purpose: the kernel reports an error without the heap.
#![allow(clippy::result_large_err)]

use mosaic_kernel::shell::parse::{parse_num, parse_size, parse_u64, ParseError};
use mosaic_kernel::shell::{execute, CmdError, Command, MAX_WORDS};

/// `parse_u64` by hand: decimal, or hexadecimal after `0x`/`0X`; not a
/// number if any character is not a digit (checked before the size).
pub fn ref_u64(s: &str) -> Result<u64, ParseError<'_>> {
    let b = s.as_bytes();
    let hex = b.len() >= 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X');
    let (digits, radix) = if hex { (&b[2..], 16u32) } else { (b, 10) };
    if digits.is_empty() {
        return Err(ParseError::Invalid(s));
    }
    let mut value: u128 = 0;
    for &c in digits {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' if hex => c - b'a' + 10,
            b'A'..=b'F' if hex => c - b'A' + 10,
            _ => return Err(ParseError::Invalid(s)),
        };
        // Saturate just above u64::MAX so the digits can still be checked.
        value = (value * u128::from(radix) + u128::from(digit)).min(u128::from(u64::MAX) + 1);
    }
    u64::try_from(value).map_err(|_| ParseError::TooLarge(s))
}

/// `parse_size` by hand: a `ref_u64` number times the suffix's unit.
pub fn ref_size(s: &str) -> Result<u64, ParseError<'_>> {
    let (number, unit): (&str, u128) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1 << 10),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1 << 20),
        Some(b'g' | b'G') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let value = match ref_u64(number) {
        Ok(v) => v,
        Err(ParseError::Invalid(_)) => return Err(ParseError::Invalid(s)),
        Err(ParseError::TooLarge(_)) => return Err(ParseError::TooLarge(s)),
    };
    u64::try_from(u128::from(value) * unit).map_err(|_| ParseError::TooLarge(s))
}

/// `split_words` by hand: runs of non-whitespace characters.
pub fn ref_words(line: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                words.push(&line[s..i]);
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        words.push(&line[s..]);
    }
    words
}

/// Whether `c` would start a new line on a terminal or in a log.
pub fn breaks_line(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\x0b' | '\x0c' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// The most bytes an error message can have (`CmdError`'s buffer).
pub const MESSAGE_MAX: usize = 160;

/// Checks every parser against its reference on one word.
pub fn check_word(word: &str) {
    assert_eq!(parse_u64(word), ref_u64(word), "parse_u64({word:?})");
    assert_eq!(parse_size(word), ref_size(word), "parse_size({word:?})");
    let small = ref_u64(word).and_then(|v| u8::try_from(v).map_err(|_| ParseError::TooLarge(word)));
    assert_eq!(parse_num::<u8>(word), small, "parse_num::<u8>({word:?})");
    for e in [parse_u64(word).err(), parse_size(word).err()].into_iter().flatten() {
        // At most 32 characters of the word, then "...", then the text.
        let shown = e.to_string();
        let limit = 32 + "...".len() + "'' is not a number".len();
        assert!(shown.chars().count() <= limit, "message for {word:?} is too long: {shown:?}");
    }
}

// --- a test command table -------------------------------------------------

/// Parses each argument as a number and a size, checking the references.
fn nums(args: &[&str]) -> Result<(), CmdError> {
    for word in args {
        check_word(word);
        parse_u64(word)?;
        parse_size(word)?;
    }
    Ok(())
}

/// Fails with a message longer than the buffer, made of the arguments.
fn fail(args: &[&str]) -> Result<(), CmdError> {
    mosaic_kernel::bail!("failed on {}: {}", args.len(), args.join(" <and> ").repeat(8))
}

fn nothing(_: &[&str]) -> Result<(), CmdError> {
    Ok(())
}

#[rustfmt::skip]
pub const TABLE: &[Command] = &[
    Command { name: "num", args: "<number|size>", about: "", min_args: 1, max_args: 1, run: nums },
    Command { name: "nums", args: "[numbers...]", about: "", min_args: 0, max_args: usize::MAX, run: nums },
    Command { name: "fail", args: "[words...]", about: "", min_args: 0, max_args: usize::MAX, run: fail },
    Command { name: "two", args: "<a> <b>", about: "", min_args: 2, max_args: 2, run: nothing },
];

/// Runs `line` on `TABLE` and checks the outcome: the right kind of error,
/// never more than one line, never longer than the buffer.
pub fn check_execute(line: &str) {
    let result = execute(TABLE, line).map_err(|e| e.to_string());
    if let Err(message) = &result {
        assert!(message.len() <= MESSAGE_MAX, "error longer than {MESSAGE_MAX} bytes: {message:?}");
        assert!(!message.contains(breaks_line), "error of more than one line: {message:?}");
    }
    let words = ref_words(line);
    let want_prefix = match words.first().map(|w| TABLE.iter().find(|c| c.name == *w)) {
        _ if words.len() > MAX_WORDS => Some("too many words"),
        None => None,
        Some(None) => Some("unknown command '"),
        Some(Some(c)) if words.len() - 1 < c.min_args || words.len() - 1 > c.max_args => Some("usage: "),
        Some(Some(c)) if c.name == "fail" => Some("failed on "),
        Some(Some(c)) if c.name == "two" => None,
        Some(Some(_)) => return, // a parse error or not: checked inside `nums`
    };
    match (want_prefix, &result) {
        (None, Ok(())) => {}
        (Some(p), Err(m)) if m.starts_with(p) => {}
        _ => panic!("{line:?} gave {result:?}, expected {want_prefix:?}"),
    }
}
