//! In-kernel tests of `bench::stress`: a short soak with a fixed seed, and
//! its leak judge on made-up and real differences.

use crate::bench::stress::{judge, run, state, Problem};
use crate::kassert;
use crate::ktest::{Test, TestResult};
use crate::mm::page_alloc::ZoneType;
use crate::mm::{alloc_pages, free_pages};

pub const TESTS: &[Test] = crate::suite![
    "stress::soak_with_fixed_seed" => soak,
    "stress::judge_reports_a_leaked_page" => leaked_page,
    "stress::judge_accepts_kept_page_tables" => kept_tables,
    "stress::judge_reports_a_leaked_heap_object" => leaked_object,
];

fn soak() -> TestResult {
    let result = run(1500, 0x5eed);
    kassert!(result.is_ok(), "{}", result.as_ref().err().unwrap());
    let report = result.unwrap();
    kassert!(report.bytes_verified > 0 && report.corrupted == 0);
    Ok(())
}

/// A data page taken and not given back is a leak, made up or real.
fn leaked_page() -> TestResult {
    let before = state();
    let mut after = before;
    after.accounted -= 1;
    after.free -= 1;
    kassert!(matches!(judge(&before, &after), Err(Problem::Leaked(_))));
    kassert!(judge(&before, &before).is_ok());
    let page = alloc_pages(0, ZoneType::Normal);
    kassert!(page.is_ok());
    let leaked = state();
    let Ok(page) = page else { return Ok(()) };
    kassert!(free_pages(page.start_address(), 0).is_ok());
    kassert!(matches!(judge(&before, &leaked), Err(Problem::Leaked(_))), "a real leaked page is not reported");
    Ok(())
}

/// Free pages that became page tables or heap pages are not a leak, and
/// then buddyinfo may differ; a buddyinfo change with nothing kept is.
fn kept_tables() -> TestResult {
    let before = state();
    let mut after = before;
    after.free -= 3;
    after.buddy[0][0] += 1;
    kassert!(judge(&before, &after).is_ok());
    let mut after = before;
    after.buddy[0][0] += 2;
    after.buddy[0][1] -= 1;
    kassert!(matches!(judge(&before, &after), Err(Problem::Leaked("buddyinfo"))));
    Ok(())
}

/// A heap object not given back is a leak even when it moved no page (its
/// slab page had room), so the page sum stays the same.
fn leaked_object() -> TestResult {
    let before = state();
    let mut after = before;
    after.heap_objects += 1;
    kassert!(matches!(judge(&before, &after), Err(Problem::Leaked("heap objects in use"))));
    let mut kept: alloc::vec::Vec<u64> = alloc::vec::Vec::new();
    kassert!(kept.try_reserve_exact(1).is_ok());
    let leaked = state();
    drop(kept);
    kassert!(leaked.accounted == before.accounted || leaked.heap_objects != before.heap_objects);
    kassert!(
        matches!(judge(&before, &leaked), Err(Problem::Leaked("heap objects in use"))),
        "a real heap object is not reported"
    );
    Ok(())
}
