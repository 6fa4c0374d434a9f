//! Lab functions a student has not written yet.
//!
//! `cargo xtask lab export` replaces the body of each function a lab asks
//! for with `crate::lab_missing!(lab, "name")`. Instead of a panic, such a
//! body records which function was reached and evaluates to the failure
//! its caller already handles: `Err` of the function's error type, `None`
//! or `false` (the `Stub` impls below and beside each error type). The
//! shell then prints `error: lab 2: get_vm_area is not written yet
//! (docs/labs/lab2-vmalloc.md)` instead of the command's own error. A
//! function that cannot fail (returns `()`) still panics, naming the lab
//! function and its handout, unless the call runs inside `probe` (the
//! boot's self-check of the buddy allocator, mm/memblock.rs).
//!
//! Hardware-free and allocation-free: it builds on the host, and mm may use
//! it (it is a leaf, like `message`).

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

/// A lab function whose body is still the skeleton's stub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Missing {
    pub lab: u32,
    pub name: &'static str,
}

impl Missing {
    /// The handout that asks for the function.
    pub fn handout(&self) -> &'static str {
        match self.lab {
            1 => "docs/labs/lab1-buddy.md",
            2 => "docs/labs/lab2-vmalloc.md",
            3 => "docs/labs/lab3-lazy-pgd.md",
            4 => "docs/labs/lab4-vmap-ioremap.md",
            5 => "docs/labs/lab5-lazy-purge.md",
            _ => "docs/labs/README.md",
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "lab {}: {} is not written yet ({})", self.lab, self.name, self.handout())
    }
}

/// The last missing function reached since `take_last` (the shell clears
/// it before each command). A try-lock: a stub may be reached from the
/// page-fault handler while the lock is held, and then it is not recorded.
static LAST: Mutex<Option<Missing>> = Mutex::new(None);

/// Set while `probe` runs: `()` stubs then return instead of panicking.
static PROBING: AtomicBool = AtomicBool::new(false);

/// Records `m` as reached.
pub fn record(m: Missing) {
    if let Some(mut last) = LAST.try_lock() {
        *last = Some(m);
    }
}

/// The missing function reached since the last call, if any; clears it.
pub fn take_last() -> Option<Missing> {
    LAST.try_lock().and_then(|mut last| last.take())
}

/// Runs `f` with `()` stubs returning instead of panicking; returns the
/// first missing function `f` reached, if any. For the boot's self-check,
/// which must learn whether the buddy allocator is written without
/// stopping the kernel if it is not.
pub fn probe(f: impl FnOnce()) -> Option<Missing> {
    let earlier = take_last();
    PROBING.store(true, Ordering::Relaxed);
    f();
    PROBING.store(false, Ordering::Relaxed);
    let found = take_last();
    if let Some(m) = earlier.filter(|_| found.is_none()) {
        record(m);
    }
    found
}

/// What a stubbed body evaluates to, chosen by the function's return type.
pub trait Stub {
    fn missing(m: Missing) -> Self;
}

/// A function that cannot fail has no value to say "missing" with.
impl Stub for () {
    fn missing(m: Missing) {
        if !PROBING.load(Ordering::Relaxed) {
            panic!("{m}: write it to go on");
        }
    }
}

impl<T> Stub for Option<T> {
    fn missing(_: Missing) -> Self {
        None
    }
}

impl Stub for bool {
    fn missing(_: Missing) -> Self {
        false
    }
}

/// Every error type a lab function returns has a `Missing` variant.
impl<T, E: From<Missing>> Stub for Result<T, E> {
    fn missing(m: Missing) -> Self {
        Err(m.into())
    }
}

/// The body of a stubbed lab function: records it and evaluates to its
/// "missing" value. `lab_missing!(2, "get_vm_area")`.
#[macro_export]
macro_rules! lab_missing {
    ($lab:literal, $name:literal) => {
        $crate::lab::missing($lab, $name)
    };
}

/// What `lab_missing!` expands to.
pub fn missing<T: Stub>(lab: u32, name: &'static str) -> T {
    let m = Missing { lab, name };
    record(m);
    T::missing(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test, as it uses the global record and probe flag: parallel
    // tests would race on them.
    #[test]
    fn stubs_record_and_fail_the_callers_way() {
        let none: Option<u64> = missing(1, "Zone::alloc");
        assert_eq!(none, None);
        assert_eq!(take_last(), Some(Missing { lab: 1, name: "Zone::alloc" }));
        assert_eq!(take_last(), None, "taking clears");
        assert!(!missing::<bool>(3, "vmalloc_fault"));
        let got = probe(|| missing::<()>(1, "Zone::free"));
        assert_eq!(got, Some(Missing { lab: 1, name: "Zone::free" }));
        assert_eq!(take_last(), None, "the probe's find is not left behind");
        assert_eq!(
            Missing { lab: 2, name: "get_vm_area" }.to_string(),
            "lab 2: get_vm_area is not written yet (docs/labs/lab2-vmalloc.md)"
        );
        let panicked = std::panic::catch_unwind(|| missing::<()>(2, "__vunmap")).unwrap_err();
        let text = panicked.downcast_ref::<String>().expect("a formatted panic message");
        assert!(text.starts_with("lab 2: __vunmap is not written yet"), "{text}");
    }
}
