//! Parsing of shell arguments: numbers and sizes.
//!
//! Numbers are decimal (`4096`) or hexadecimal with `0x` (`0x1000`). Sizes
//! are numbers with an optional binary suffix: `K` (KiB), `M` (MiB) or `G`
//! (GiB), in either case: `20000`, `64K`, `0x10M`. Anything else, including
//! a value that does not fit in 64 bits, is an error, never a wrap-around.

use core::fmt;

/// Why an argument was rejected. Shown after `error: `.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// Not a number at all.
    Invalid(&'a str),
    /// A number, but larger than the type it must fit in.
    TooLarge(&'a str),
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ParseError::Invalid(s) => write!(f, "'{}' is not a number", Shown(s)),
            ParseError::TooLarge(s) => write!(f, "'{}' is too large", Shown(s)),
        }
    }
}

/// Shows at most 32 characters of user input, so a huge argument cannot
/// turn an error message into a flood.
pub struct Shown<'a>(pub &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0.char_indices().nth(32) {
            Some((cut, _)) => write!(f, "{}...", &self.0[..cut]),
            None => f.write_str(self.0),
        }
    }
}

/// Parses a decimal or `0x` hexadecimal number.
pub fn parse_u64(s: &str) -> Result<u64, ParseError<'_>> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(ParseError::Invalid(s));
    }
    u64::from_str_radix(digits, radix).map_err(|_| ParseError::TooLarge(s))
}

/// Parses a number that must fit in `T` (for example a `u8` order).
pub fn parse_num<T: TryFrom<u64>>(s: &str) -> Result<T, ParseError<'_>> {
    T::try_from(parse_u64(s)?).map_err(|_| ParseError::TooLarge(s))
}

/// Parses a size in bytes with an optional `K`, `M` or `G` suffix.
pub fn parse_size(s: &str) -> Result<u64, ParseError<'_>> {
    let shift = match s.as_bytes().last() {
        Some(b'k' | b'K') => 10,
        Some(b'm' | b'M') => 20,
        Some(b'g' | b'G') => 30,
        _ => 0,
    };
    let number = if shift == 0 { s } else { &s[..s.len() - 1] };
    let value = parse_u64(number).map_err(|e| match e {
        ParseError::TooLarge(_) => ParseError::TooLarge(s),
        ParseError::Invalid(_) => ParseError::Invalid(s),
    })?;
    value.checked_mul(1 << shift).ok_or(ParseError::TooLarge(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_u64("0"), Ok(0));
        assert_eq!(parse_u64("4096"), Ok(4096));
        assert_eq!(parse_u64("0x1000"), Ok(0x1000));
        assert_eq!(parse_u64("0XfF"), Ok(255));
        assert_eq!(parse_u64("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_u64("0xffffffffffffffff"), Ok(u64::MAX));
    }

    #[test]
    fn bad_numbers() {
        for s in ["", "-1", "+1", "1.5", "0x", "12a", "0x1g", " 1", "１"] {
            assert_eq!(parse_u64(s), Err(ParseError::Invalid(s)), "{s:?}");
        }
        for s in ["18446744073709551616", "0x10000000000000000"] {
            assert_eq!(parse_u64(s), Err(ParseError::TooLarge(s)));
        }
        assert_eq!(parse_num::<u8>("256"), Err(ParseError::TooLarge("256")));
        assert_eq!(parse_num::<u8>("255"), Ok(255u8));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20000"), Ok(20000));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("0x10M"), Ok(16 << 20));
        assert_eq!(parse_size("5G"), Ok(5 << 30));
        assert_eq!(parse_size("K"), Err(ParseError::Invalid("K")));
        assert_eq!(parse_size("1T"), Err(ParseError::Invalid("1T")));
        assert_eq!(parse_size("17179869184G"), Err(ParseError::TooLarge("17179869184G")));
    }

    #[test]
    fn long_input_is_shortened_in_messages() {
        let long = "x".repeat(4096);
        let msg = ParseError::Invalid(&long).to_string();
        assert!(msg.len() < 64, "{msg}");
    }
}
