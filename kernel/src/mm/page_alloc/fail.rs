//! Fault injection for the page allocator, as Linux's fail_page_alloc
//! (Documentation/fault-injection): make the n-th allocation from now fail,
//! so that a test can walk a caller through every one of its error paths.
//!
//! The use: count the calls an operation makes (`calls`), then run it once
//! per call with that call set to fail, and check that each run rolls back.

/// The counter of `alloc_pages` calls and the pending failure.
#[derive(Clone, Copy, Debug, Default)]
pub struct FailPageAlloc {
    /// Calls of `alloc_pages` so far (with a valid order).
    calls: u64,
    /// The call that will fail, counted from the next one (1 = the next).
    fail_in: Option<u64>,
    /// Failures injected so far.
    injected: u64,
}

impl FailPageAlloc {
    /// `Some(n)` makes the n-th call from now fail (1 = the next one), after
    /// which the switch turns itself off; `None` or `Some(0)` turns it off.
    pub fn fail_nth(&mut self, n: Option<u64>) {
        self.fail_in = n.filter(|&n| n > 0);
    }

    /// Which call from now will fail (1 = the next), if one is set to.
    pub fn pending(&self) -> Option<u64> {
        self.fail_in
    }

    /// Calls counted since boot, failed ones included.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// Failures injected since boot.
    pub fn injected(&self) -> u64 {
        self.injected
    }

    /// Counts `n` calls that took no chance of failing: only allowed while
    /// no failure is pending (the bulk path's fast case).
    pub fn count_unarmed(&mut self, n: u64) {
        debug_assert!(self.fail_in.is_none());
        self.calls += n;
    }

    /// Counts one call; true if it is the one to fail.
    pub fn should_fail(&mut self) -> bool {
        self.calls += 1;
        match self.fail_in {
            Some(1) => {
                self.fail_in = None;
                self.injected += 1;
                true
            }
            Some(n) => {
                self.fail_in = Some(n - 1);
                false
            }
            None => false,
        }
    }
}
