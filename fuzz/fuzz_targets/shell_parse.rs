//! Fuzz target: the shell's parsing, from raw text to a command's result.
//!
//! The input, read as UTF-8 (invalid sequences replaced), is split into
//! words and compared with a reference splitter; every word and the whole
//! text go through `parse_u64`, `parse_size` and `parse_num` and are
//! compared with reference parsers; the text then runs as a command line on
//! a small test table, whose errors must be single lines that fit the
//! message buffer. Unlike the line editor, which only lets printable ASCII
//! through, this reaches the parsers with any Unicode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mosaic_fuzz::{check_execute, check_word, ref_words};
use mosaic_kernel::shell::{split_words, MAX_WORDS};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_split(&text);
    check_word(&text);
    for word in ref_words(&text) {
        check_word(word);
    }
    check_execute(&text);
});

fn check_split(text: &str) {
    let want = ref_words(text);
    match split_words(text) {
        Some((words, count)) => {
            assert_eq!(&words[..count], want.as_slice(), "split_words({text:?})");
            assert!(words[count..].iter().all(|w| w.is_empty()));
        }
        None => assert!(want.len() > MAX_WORDS, "split_words refused {} words", want.len()),
    }
}
