//! In-kernel tests of `vrealloc` (mm/vmalloc/vrealloc.rs): the contents
//! survive each of its ways (shrink in place, grow in place, move, same
//! pages), the guard page follows the new end, and a failure injected at
//! each of its allocations (`fail_page_alloc`, as in inject.rs) leaves the
//! area exactly as it was: same record, same frames, same bytes.

use crate::ktest::{Failed, Test, TestResult};
use crate::mm::page::PAGE_SIZE;
use crate::mm::pgtable::{self, master_pgd};
use crate::mm::vmalloc::{self, Resized, VmError};
use crate::mm::{alloc_calls, fail_nth, injected_failures, pages_accounted};
use crate::{kassert, kassert_eq, println};
use alloc::vec::Vec;
use x86_64::structures::paging::PhysFrame;
use x86_64::VirtAddr;

pub const TESTS: &[Test] = crate::suite![
    "vrealloc::contents_survive_every_way" => contents_survive_every_way,
    "vrealloc::the_guard_page_follows_the_end" => guard_follows_the_end,
    "vrealloc::bad_addresses_are_refused" => bad_addresses,
    "vrealloc::inject_shrink" => inject_shrink,
    "vrealloc::inject_grow_in_place" => inject_grow_in_place,
    "vrealloc::inject_move" => inject_move,
];

/// Byte `i` of pattern `id`.
fn byte(id: u8, i: u64) -> u8 {
    (i.wrapping_mul(31) as u8) ^ id
}

fn fill(addr: VirtAddr, len: u64, id: u8) {
    for i in 0..len {
        // SAFETY: the callers' areas hold at least `len` mapped bytes.
        unsafe { addr.as_mut_ptr::<u8>().add(i as usize).write_volatile(byte(id, i)) };
    }
}

fn holds(addr: VirtAddr, len: u64, id: u8) -> bool {
    // SAFETY: as in `fill`.
    (0..len).all(|i| unsafe { addr.as_ptr::<u8>().add(i as usize).read_volatile() } == byte(id, i))
}

fn mapped(addr: u64) -> bool {
    pgtable::walk(master_pgd(), VirtAddr::new(addr)).phys.is_some()
}

/// The lowest start of a busy area at or above `addr`.
fn next_busy(addr: u64) -> Result<Option<u64>, Failed> {
    let areas = vmalloc::areas();
    kassert!(areas.is_ok(), "vmallocinfo's list: {:?}", areas.as_ref().err());
    Ok(areas.unwrap_or_default().iter().map(|a| a.start).find(|&s| s >= addr))
}

fn resize(addr: VirtAddr, size: u64) -> Result<(VirtAddr, Resized), Failed> {
    let r = vmalloc::vrealloc(addr, size);
    kassert!(r.is_ok(), "vrealloc({:#x}, {size}): {:?}", addr.as_u64(), r);
    Ok(r.unwrap_or((addr, Resized::SamePages)))
}

fn contents_survive_every_way() -> TestResult {
    let before = (pages_accounted(), vmalloc::totals().areas);
    let a = vmalloc::vmalloc(3 * PAGE_SIZE);
    kassert!(a.is_ok());
    let a = a.unwrap_or(VirtAddr::zero());
    fill(a, 3 * PAGE_SIZE, 1);
    // Shrink: the first 5000 bytes stay, one page goes.
    let (at, how) = resize(a, 5000)?;
    kassert_eq!((at, how), (a, Resized::ShrunkInPlace { pages_freed: 1 }));
    kassert!(holds(a, 5000, 1), "shrinking lost the contents");
    // Grow back: the freed tail is free, so this is in place.
    let (at, how) = resize(a, 3 * PAGE_SIZE)?;
    kassert_eq!((at, how), (a, Resized::GrownInPlace { pages_added: 1 }));
    kassert!(holds(a, 5000, 1), "growing in place lost the contents");
    fill(a, 3 * PAGE_SIZE, 2);
    // Same pages: only the record changes.
    let (at, how) = resize(a, 3 * PAGE_SIZE - 100)?;
    kassert_eq!((at, how), (a, Resized::SamePages));
    kassert!(holds(a, 3 * PAGE_SIZE - 100, 2));
    // No room after it for two more pages: it must move.
    let mut others = Vec::new();
    let case = Case { name: "move", old: 3, new: 5 * PAGE_SIZE, expect: |a| Resized::Moved { from: a.as_u64() } };
    fill_room_after(a, &case, &mut others)?;
    let (moved, how) = resize(a, case.new)?;
    kassert_eq!(how, Resized::Moved { from: a.as_u64() });
    kassert!(holds(moved, 3 * PAGE_SIZE - 100, 2), "moving lost the contents");
    kassert!(vmalloc::find_area(a).is_none(), "the old area is still there");
    kassert!(!mapped(a.as_u64()), "the old area is still mapped");
    cleanup(moved, others);
    kassert_eq!(vmalloc::check(), Ok(()));
    kassert_eq!((pages_accounted(), vmalloc::totals().areas), before);
    Ok(())
}

fn guard_follows_the_end() -> TestResult {
    let a = vmalloc::vmalloc(4 * PAGE_SIZE).map_err(|_| Failed)?;
    let start = a.as_u64();
    resize(a, PAGE_SIZE + 1)?;
    kassert!(mapped(start + PAGE_SIZE), "the second page must stay");
    kassert!(!mapped(start + 2 * PAGE_SIZE), "the page after the new end must be the guard");
    kassert_eq!(vmalloc::area_record(a), Some((start, 3 * PAGE_SIZE, 2)));
    resize(a, 3 * PAGE_SIZE)?;
    kassert!(mapped(start + 2 * PAGE_SIZE), "growing maps the old guard page");
    kassert!(!mapped(start + 3 * PAGE_SIZE), "and a new guard page follows");
    kassert_eq!(vmalloc::area_record(a), Some((start, 4 * PAGE_SIZE, 3)));
    kassert_eq!(vmalloc::audit(), Ok(()));
    vmalloc::vfree(a).map_err(|_| Failed)?;
    Ok(())
}

fn bad_addresses() -> TestResult {
    let a = vmalloc::vmalloc(2 * PAGE_SIZE).map_err(|_| Failed)?;
    let inside = a + PAGE_SIZE;
    kassert_eq!(
        vmalloc::vrealloc(inside, 10).err(),
        Some(VmError::NotStart { addr: inside.as_u64(), start: a.as_u64() })
    );
    let nowhere = VirtAddr::new(0xffff_c900_0000_0000 - PAGE_SIZE);
    kassert_eq!(vmalloc::vrealloc(nowhere, 10).err(), Some(VmError::NotAnArea(nowhere.as_u64())));
    kassert!(matches!(vmalloc::vrealloc(a, u64::MAX), Err(VmError::TooLarge(_))));
    let (gone, how) = resize(a, 0)?;
    kassert_eq!((gone, how), (VirtAddr::zero(), Resized::Freed));
    kassert!(vmalloc::find_area(a).is_none());
    Ok(())
}

// --- fault injection --------------------------------------------------

/// What a failed vrealloc must leave as it found: the area's record, its
/// frames, its bytes, the guard page, and the page count.
#[derive(Debug, PartialEq, Eq)]
struct State {
    record: Option<(u64, u64, u64)>,
    frames: Vec<Option<PhysFrame>>,
    guard_mapped: bool,
    pages: u64,
    areas: usize,
}

fn state(a: VirtAddr, pages: u64) -> State {
    State {
        record: vmalloc::area_record(a),
        frames: (0..pages).map(|i| vmalloc::vmalloc_to_page(a + i * PAGE_SIZE)).collect(),
        guard_mapped: mapped(a.as_u64() + pages * PAGE_SIZE),
        pages: pages_accounted(),
        areas: vmalloc::totals().areas,
    }
}

/// One vrealloc of an area of `old` pages to `new` bytes, which must go
/// the way `expect` says.
struct Case {
    name: &'static str,
    old: u64,
    new: u64,
    expect: fn(VirtAddr) -> Resized,
}

/// Makes the case's area, filled with a pattern, and arranges what lies
/// after it: free room for a grow in place, a busy area for a move.
/// Returns the area and the other areas made, to free afterwards.
fn setup(case: &Case) -> Result<(VirtAddr, Vec<VirtAddr>), Failed> {
    let grows = case.new > case.old * PAGE_SIZE;
    let a = match (case.expect)(VirtAddr::zero()) {
        // Made at the new size and shrunk: the tail is free room.
        Resized::GrownInPlace { .. } => {
            let a = vmalloc::vmalloc(case.new).map_err(|_| Failed)?;
            resize(a, case.old * PAGE_SIZE)?.0
        }
        _ => vmalloc::vmalloc(case.old * PAGE_SIZE).map_err(|_| Failed)?,
    };
    let mut others = Vec::new();
    if grows && matches!((case.expect)(a), Resized::Moved { .. }) {
        fill_room_after(a, case, &mut others)?;
    }
    fill(a, case.old * PAGE_SIZE, 7);
    Ok((a, others))
}

/// Takes one-page areas until the free room after `a`'s guard page is too
/// small for the case to grow in place (lower holes fill first).
fn fill_room_after(a: VirtAddr, case: &Case, others: &mut Vec<VirtAddr>) -> TestResult {
    let end = a.as_u64() + (case.old + 1) * PAGE_SIZE;
    let needed = case.new.div_ceil(PAGE_SIZE) - case.old;
    for _ in 0..4096 {
        let room = next_busy(end)?.map_or(u64::MAX, |s| (s - end) / PAGE_SIZE);
        if room < needed {
            return Ok(());
        }
        others.push(vmalloc::vmalloc(PAGE_SIZE).map_err(|_| Failed)?);
    }
    kassert!(false, "could not fill the room after {:#x}", a.as_u64());
    Ok(())
}

fn cleanup(a: VirtAddr, others: Vec<VirtAddr>) {
    vmalloc::vfree(a).expect("the test's own area");
    for b in others {
        vmalloc::vfree(b).expect("the test's own area");
    }
}

/// Counts the allocations of the case, then fails each in turn.
fn every_failure(case: &Case) -> TestResult {
    let mut count = 0;
    // Twice: the first call grows bookkeeping that never shrinks.
    for _ in 0..2 {
        let (a, blocker) = setup(case)?;
        let calls = alloc_calls();
        let (now, how) = resize(a, case.new)?;
        count = alloc_calls() - calls;
        kassert_eq!(how, (case.expect)(a));
        kassert!(holds(now, (case.old * PAGE_SIZE).min(case.new), 7), "{}: the contents changed", case.name);
        cleanup(now, blocker);
    }
    println!("    {}: {count} allocations", case.name);
    for k in 1..=count {
        let (a, blocker) = setup(case)?;
        let before = state(a, case.old);
        let injected = injected_failures();
        fail_nth(Some(k));
        let result = vmalloc::vrealloc(a, case.new);
        fail_nth(None);
        if injected_failures() == injected {
            // Fewer allocations this time (a slab page the count paid for
            // is still there): the call must then simply have worked.
            kassert!(result.is_ok(), "{}: nothing injected at {k}, and yet {:?}", case.name, result);
            cleanup(result.map_or(a, |(now, _)| now), blocker);
            continue;
        }
        kassert!(matches!(result, Err(VmError::NoMemory)), "{}: allocation {k} failed: {:?}", case.name, result);
        kassert_eq!(state(a, case.old), before);
        kassert!(holds(a, case.old * PAGE_SIZE, 7), "{}: allocation {k} failed and the bytes changed", case.name);
        kassert_eq!(vmalloc::check(), Ok(()));
        cleanup(a, blocker);
    }
    Ok(())
}

fn inject_shrink() -> TestResult {
    // 600 pages to 3: the page lists need the heap.
    every_failure(&Case {
        name: "vrealloc 600 pages to 3",
        old: 600,
        new: 3 * PAGE_SIZE,
        expect: |_| Resized::ShrunkInPlace { pages_freed: 597 },
    })
}

fn inject_grow_in_place() -> TestResult {
    // Set up as 300 pages shrunk to 3: the room after it is free.
    every_failure(&Case {
        name: "vrealloc 3 pages to 300 in place",
        old: 3,
        new: 300 * PAGE_SIZE,
        expect: |_| Resized::GrownInPlace { pages_added: 297 },
    })
}

fn inject_move() -> TestResult {
    every_failure(&Case {
        name: "vrealloc 3 pages to 5, moved",
        old: 3,
        new: 5 * PAGE_SIZE,
        expect: |a| Resized::Moved { from: a.as_u64() },
    })
}
