//! Shell command for fault injection: `fail_page_alloc`, after Linux's
//! fail_page_alloc (Documentation/fault-injection). It makes one chosen
//! page allocation fail, so that an error path can be watched by hand:
//!
//! ```text
//! mosaic> fail_page_alloc 2
//! fail_page_alloc: allocation 2 from now fails (allocations so far: 1, failures injected: 0)
//! mosaic> vmalloc 20000
//! error: out of memory
//! mosaic> fail_page_alloc
//! fail_page_alloc: off (allocations so far: 3, failures injected: 1)
//! ```
//!
//! Every buddy allocation counts, the kernel heap's included. Every shell
//! command takes its heap memory fallibly (`try_reserve`, fixed buffers
//! for output), so the one hit answers `error: ...` and gives back what it
//! took; tests/inject_sweep.rs holds every command of `help` to that at
//! every allocation point. Code that used a plain `Vec` or `format!` would
//! panic here, as on a real out-of-memory: a finding, not a bug of the
//! switch.

use super::parse::{parse_u64, Shown};
use super::CmdError;
use crate::mm;
use crate::{bail, println};

/// `fail_page_alloc [N|off]`: show the switch, fail the N-th allocation
/// from now (1 = the next one), or turn it off.
pub fn fail_page_alloc(args: &[&str]) -> Result<(), CmdError> {
    match args.first().copied() {
        None => {}
        Some("off") => mm::fail_nth(None),
        Some(word) => {
            let Ok(n) = parse_u64(word) else {
                bail!("'{}' is not a number or 'off'", Shown(word));
            };
            if n == 0 {
                bail!("N counts from 1 (the next allocation); 'off' turns the switch off");
            }
            mm::fail_nth(Some(n));
        }
    }
    show();
    Ok(())
}

/// One line: the switch, then the counters that tell whether it fired.
fn show() {
    let (calls, injected) = (mm::alloc_calls(), mm::injected_failures());
    match mm::fail_nth_pending() {
        Some(n) => println!("fail_page_alloc: allocation {n} from now fails (allocations so far: {calls}, failures injected: {injected})"),
        None => println!("fail_page_alloc: off (allocations so far: {calls}, failures injected: {injected})"),
    }
}
