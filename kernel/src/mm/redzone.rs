//! The vmalloc overrun check (Mosaic's KASAN-lite): the bytes between the
//! size a caller asked for and the end of its last page are its *redzone*.
//! They are filled with a pattern when the area is made and compared with
//! it when the area is freed, so a write even one byte past the end is
//! caught, where the guard page only catches the next page.
//!
//! Linux's generic KASAN (mm/kasan/, Documentation/dev-tools/kasan.rst)
//! checks every access against shadow memory as it happens; SLUB's red
//! zones (mm/slub.c, `check_bytes_and_report`) check a pattern after the
//! fact, as here. This file holds the part with no hardware in it (the
//! pattern, the comparison, the switch), tested on the host; vmalloc.rs
//! calls it. See docs/debugging.md, "The overrun check".

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// The byte the redzone is filled with (SLUB's `SLUB_RED_ACTIVE`, 0xcc, is
/// an int3 and so easy to spot in a dump; this one differs from it so the
/// two are not confused).
pub const PATTERN: u8 = 0xa5;

/// On by default in debug builds; the `redzone=on|off` boot option sets it.
static ENABLED: AtomicBool = AtomicBool::new(cfg!(debug_assertions));

/// Whether new areas get a redzone.
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

/// Turns the check on or off (boot only: an area made while it was off
/// has no pattern to check, see `Redzone`).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Relaxed);
}

/// The bytes of the redzone that were changed: offsets are from the start
/// of the area, so they read like the `explain` offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overwrite {
    /// Offset and new value of the first changed byte.
    pub first: u64,
    pub first_value: u8,
    /// Offset and new value of the last changed byte.
    pub last: u64,
    pub last_value: u8,
}

impl fmt::Display for Overwrite {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "first changed byte at offset {} ({:#04x}), ", self.first, self.first_value)?;
        write!(f, "last at offset {} ({:#04x}), pattern {PATTERN:#04x}", self.last, self.last_value)
    }
}

/// Fills `slack` (the redzone) with the pattern.
pub fn fill(slack: &mut [u8]) {
    let (words, tail) = slack.as_chunks_mut::<8>();
    words.fill(WORD.to_ne_bytes());
    tail.fill(PATTERN);
}

/// Eight bytes of the pattern: fill and check go a word at a time (byte
/// loops cost a third more per vmalloc+vfree under TCG, docs/benchmarks.md).
const WORD: u64 = u64::from_ne_bytes([PATTERN; 8]);

/// Compares `slack`, which starts `requested` bytes into its area, with
/// the pattern; the changed bytes, if any.
pub fn check(slack: &[u8], requested: u64) -> Option<Overwrite> {
    if all_pattern(slack) {
        return None;
    }
    let first = slack.iter().position(|&b| b != PATTERN)?;
    let last = slack.iter().rposition(|&b| b != PATTERN).expect("a byte differs");
    Some(Overwrite {
        first: requested + first as u64,
        first_value: slack[first],
        last: requested + last as u64,
        last_value: slack[last],
    })
}

/// True if every byte of `slack` is the pattern (the common case, on
/// every vfree), compared a word at a time.
fn all_pattern(slack: &[u8]) -> bool {
    let (words, tail) = slack.as_chunks::<8>();
    words.iter().all(|&w| u64::from_ne_bytes(w) == WORD) && tail.iter().all(|&b| b == PATTERN)
}

/// Where an area's redzone lies inside its last page: `(offset in the
/// page, length)`, or None when `requested` ends on a page boundary and
/// there is no slack to check. `page_size` is a power of two.
pub fn slack_in_last_page(requested: u64, page_size: u64) -> Option<(usize, usize)> {
    let used = requested % page_size;
    (requested > 0 && used != 0).then(|| (used as usize, (page_size - used) as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slack_of_20000_bytes_is_the_last_480_of_page_five() {
        assert_eq!(slack_in_last_page(20000, 4096), Some((20000 - 4 * 4096, 480)));
        assert_eq!(slack_in_last_page(1, 4096), Some((1, 4095)));
        assert_eq!(slack_in_last_page(8192, 4096), None);
        assert_eq!(slack_in_last_page(0, 4096), None);
    }

    #[test]
    fn an_untouched_redzone_passes() {
        let mut slack = [0u8; 483];
        fill(&mut slack);
        assert!(slack.iter().all(|&b| b == PATTERN), "fill misses a byte");
        assert_eq!(check(&slack, 20000), None);
    }

    #[test]
    fn first_and_last_changed_bytes_are_found_with_offsets_from_the_area() {
        let mut slack = [0u8; 480];
        fill(&mut slack);
        slack[12] = 0x41;
        slack[13] = PATTERN ^ 1;
        slack[300] = 0;
        let hit = check(&slack, 20000).expect("an overwrite");
        assert_eq!(hit, Overwrite { first: 20012, first_value: 0x41, last: 20300, last_value: 0 });
        let text = hit.to_string();
        assert!(text.contains("offset 20012 (0x41)") && text.contains("offset 20300 (0x00)"), "{text}");
    }

    #[test]
    fn a_change_in_the_unaligned_tail_is_found() {
        let mut slack = [PATTERN; 21];
        assert_eq!(check(&slack, 0), None);
        slack[20] = 0;
        assert_eq!(check(&slack, 0).map(|h| (h.first, h.last)), Some((20, 20)));
    }

    #[test]
    fn one_byte_changed_is_both_first_and_last() {
        let mut slack = [PATTERN; 16];
        slack[15] = 7;
        let hit = check(&slack, 100).expect("an overwrite");
        assert_eq!((hit.first, hit.last), (115, 115));
    }
}
