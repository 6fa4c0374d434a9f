//! The guard against a page fault that `vmalloc_fault` "fixes" forever.
//!
//! After `vmalloc_fault` says it copied the missing top-level entry, the
//! CPU retries the access. With a correct sync the retry succeeds, or, if
//! the master itself does not map the address, faults once more, finds the
//! entry already present and is reported as a real fault. So a retry of a
//! fault whose top-level entry was already present, or is still missing
//! after the "fix", fixed nothing: it is a bug in the sync, and the same
//! fault (same address, same instruction, same address space) comes
//! straight back; without a limit that is an endless fault-and-retry loop
//! that looks like a hung machine, the worst thing a student can be shown.
//! The handler (arch/exceptions.rs) counts only such retries; a fault that
//! needed the copy starts the count again, however often the same address
//! faults that way. Linux has no such guard (its sync has no student
//! writing it); Mosaic stops at `RETRY_LIMIT` and prints an oops that says
//! what happened.

/// Retries of one fault in a row that are still believed. Two would do
/// (see above); the margin costs nothing, as each retry is a few hundred
/// instructions.
pub const RETRY_LIMIT: u32 = 8;

/// What the oops says when the limit is reached.
pub const RETRY_CAUSE: &str = "the same fault came back after vmalloc_fault said it was fixed, 8 times in a row: \
     the top-level entry it copied does not map this address, or it should not have retried (LAB 3: its \
     conditions, and what aspace::sync_from_master returns)";

/// The last fault that was retried and how many times in a row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetryGuard {
    key: (u64, u64, u64),
    count: u32,
}

impl RetryGuard {
    pub const NEW: RetryGuard = RetryGuard { key: (0, 0, 0), count: 0 };

    /// A retry that needed the copy: the count starts again.
    pub fn forget(&mut self) {
        *self = RetryGuard::NEW;
    }

    /// Records one retry that fixed nothing (the fault's top-level entry
    /// was present before, or is missing after), of the fault at `addr` by
    /// the instruction at `rip` in the address space whose top-level table
    /// is at `cr3`; false once the same fault has been retried
    /// `RETRY_LIMIT` times in a row.
    pub fn retry(&mut self, addr: u64, rip: u64, cr3: u64) -> bool {
        let key = (addr, rip, cr3);
        if self.key == key {
            self.count += 1;
        } else {
            *self = RetryGuard { key, count: 1 };
        }
        self.count <= RETRY_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_fault_is_retried_up_to_the_limit() {
        let mut g = RetryGuard::NEW;
        for _ in 0..RETRY_LIMIT {
            assert!(g.retry(0x1000, 0x2000, 0x3000));
        }
        assert!(!g.retry(0x1000, 0x2000, 0x3000), "a ninth retry in a row was believed");
    }

    #[test]
    fn a_fault_that_needed_the_copy_starts_the_count_again() {
        let mut g = RetryGuard::NEW;
        for _ in 0..3 * RETRY_LIMIT {
            assert!(g.retry(0x1000, 0x2000, 0x3000));
            g.forget();
        }
    }

    #[test]
    fn the_oops_names_the_limit() {
        assert!(RETRY_CAUSE.contains(&format!(", {RETRY_LIMIT} times in a row")), "{RETRY_CAUSE}");
    }

    #[test]
    fn another_fault_between_starts_the_count_again() {
        let mut g = RetryGuard::NEW;
        for round in 0..3 * RETRY_LIMIT {
            // The same address and instruction in two address spaces, in
            // turn: each is one legitimate lazy fault, never a loop.
            let cr3 = 0x3000 + u64::from(round % 2) * 0x1000;
            assert!(g.retry(0x1000, 0x2000, cr3));
        }
    }
}
