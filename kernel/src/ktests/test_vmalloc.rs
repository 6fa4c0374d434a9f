//! In-kernel tests of `bench::test_vmalloc`: every case passes with
//! small counts and leaves nothing behind, the command refuses bad
//! parameters.

use crate::bench::test_vmalloc::*;
use crate::ktest::{Test, TestResult};
use crate::mm::page::PAGE_SIZE;
use crate::mm::vmalloc::{self, VmError};
use crate::shell::test_vmalloc_command::{parse_params, run};
use crate::{kassert, kassert_eq};

pub const TESTS: &[Test] = crate::suite![
    "test_vmalloc::fix_size_alloc_test" => fix_size,
    "test_vmalloc::full_fit_alloc_test" => full_fit,
    "test_vmalloc::long_busy_list_alloc_test" => long_busy_list,
    "test_vmalloc::random_size_alloc_test" => random_size,
    "test_vmalloc::fix_align_alloc_test" => fix_align,
    "test_vmalloc::random_size_align_alloc_test" => random_size_align,
    "test_vmalloc::align_shift_alloc_test_fails_as_expected" => align_shift,
    "test_vmalloc::vm_map_ram_test" => vm_map_ram,
    "test_vmalloc::vm_map_ram_test_plain_vmap_flushes_every_loop" => vm_map_ram_plain,
    "test_vmalloc::no_block_alloc_test" => no_block_alloc,
    "test_vmalloc::vrealloc_test" => vrealloc_test,
    "test_vmalloc::bad_parameters_are_refused" => bad_parameters,
    "test_vmalloc::command_skips_pcpu_and_rcu_and_leaks_nothing" => whole_command,
];

/// Small counts: enough to go through every path, quick in a debug kernel.
/// One repeat, as full_fit and long_busy_list set up 15000+ areas each time
/// (seconds in a debug kernel under TCG); `fix_size` checks repeats.
const KTEST_PARAMS: Params = Params {
    run_test_mask: INT_MAX,
    test_loop_count: 200,
    test_repeat_count: 1,
    nr_pages: 3,
    busy_areas: 0,
    short_by: 0,
    use_huge: false,
    nr_threads: 0,
    sequential_test_order: false,
    nr_pcpu_objects: 35_000,
    summary_6_1: false,
    plain_vmap: false,
};

/// Runs one case with KTEST_PARAMS and checks that it passed every repeat
/// and left nothing behind.
fn passes(index: usize) -> TestResult {
    passes_with(index, &KTEST_PARAMS)
}

fn passes_with(index: usize, params: &Params) -> TestResult {
    let before = Usage::now();
    let r = run_case(index, params);
    kassert!(r.failure.is_none(), "{} failed: {:?}", r.name, r.failure);
    kassert_eq!((r.passed, r.failed), (params.test_repeat_count, 0));
    kassert!(r.avg_ns > 0 && r.ns_per_loop > 0, "no time measured: {r:?}");
    kassert_eq!(Usage::now(), before);
    kassert_eq!(vmalloc::check(), Ok(()));
    Ok(())
}

fn fix_size() -> TestResult {
    passes_with(0, &Params { test_repeat_count: 3, ..KTEST_PARAMS })
}

fn full_fit() -> TestResult {
    passes(1)
}

fn long_busy_list() -> TestResult {
    passes(2)
}

fn random_size() -> TestResult {
    passes(3)
}

fn fix_align() -> TestResult {
    passes(4)
}

fn random_size_align() -> TestResult {
    passes(5)
}

fn vm_map_ram() -> TestResult {
    passes(10)
}

/// `plain_vmap=1` takes the old way: an area and an eager flush per loop
/// (vmap blocks flush once per 1024 pages).
fn vm_map_ram_plain() -> TestResult {
    let before = vmalloc::lazy_stats().tlb_flushes;
    passes_with(10, &Params { plain_vmap: true, ..KTEST_PARAMS })?;
    let flushes = vmalloc::lazy_stats().tlb_flushes - before;
    kassert!(flushes >= KTEST_PARAMS.test_loop_count, "{flushes} flushes for {} loops", KTEST_PARAMS.test_loop_count);
    Ok(())
}

fn no_block_alloc() -> TestResult {
    passes(11)
}

fn vrealloc_test() -> TestResult {
    passes(12)
}

/// Fails every repeat, at the first alignment above the 32 TiB area.
fn align_shift() -> TestResult {
    let before = Usage::now();
    let r = run_case(ALIGN_SHIFT, &KTEST_PARAMS);
    // Linux 6.15 on: an expected failure counts as xfailed, not failed.
    kassert_eq!((r.passed, r.failed, r.xfailed), (0, 0, KTEST_PARAMS.test_repeat_count));
    // The vmalloc area (0xffff_c900_0000_0000..0xffff_e900_0000_0000)
    // contains a multiple of 2^45 (0xffff_e000_0000_0000) but none of 2^46,
    // so 2^46 is the first alignment it cannot honour.
    kassert_eq!(
        r.failure,
        Some(Failure { step: Step::AlignShift { shift: 46 }, error: Some(VmError::NoSpace(PAGE_SIZE)) })
    );
    kassert_eq!(Usage::now(), before);
    Ok(())
}

fn bad_parameters() -> TestResult {
    let before = Usage::now();
    let bad: &[&[&str]] = &[
        &["frobnicate=1"],
        &["test_loop_count"],
        &["test_loop_count=0"],
        &["test_loop_count=12x"],
        &["test_loop_count=-1"],
        &["test_repeat_count=0"],
        &["test_loop_count=3000000000"],
        &["test_repeat_count=99999999999999999999999"],
        &["run_test_mask=0"],
        &["run_test_mask=0x2000"],
        &["use_huge=2"],
        &["nr_threads=2"],
        &["summary_6_1=yes"],
        &["plain_vmap=2"],
        &["nr_pages=2147483647"],
        &["nr_pages=1", "nr_pages=2"],
        &["busy_areas=100000000"],
        &["=5"],
    ];
    for args in bad {
        match run(args) {
            Ok(()) => kassert!(false, "{args:?} was accepted"),
            Err(e) => {
                let msg = alloc::format!("{e}");
                kassert!(!msg.is_empty() && !msg.contains('\n'), "{args:?}: {msg:?}");
            }
        }
    }
    kassert_eq!(Usage::now(), before);
    kassert_eq!(
        parse_params(&[
            "run_test_mask=0x7ff",
            "test_loop_count=5",
            "test_repeat_count=2",
            "nr_pages=4",
            "busy_areas=6"
        ])
        .ok(),
        Some(Params {
            run_test_mask: 0x7ff,
            test_loop_count: 5,
            test_repeat_count: 2,
            nr_pages: 4,
            busy_areas: 6,
            ..Params::default()
        })
    );
    kassert_eq!(
        parse_params(&[
            "use_huge=1",
            "nr_threads=1",
            "sequential_test_order=1",
            "nr_pcpu_objects=9",
            "summary_6_1=1",
            "plain_vmap=1"
        ])
        .ok(),
        Some(Params {
            use_huge: true,
            nr_threads: 1,
            sequential_test_order: true,
            nr_pcpu_objects: 9,
            summary_6_1: true,
            plain_vmap: true,
            ..Params::default()
        })
    );
    kassert_eq!(Params::default().run_test_mask, 7);
    kassert_eq!(parse_params(&[]).ok(), Some(Params::default()));
    Ok(())
}

/// The command itself with the not-applicable bits set (they are skipped),
/// the quick cases and some busy areas, leak check included (run would
/// return an error).
/// full_fit and long_busy_list are left out: they take seconds here.
fn whole_command() -> TestResult {
    let before = Usage::now();
    let result = run(&["run_test_mask=0x1ff9", "test_loop_count=20", "nr_pages=2", "busy_areas=50"]);
    kassert!(
        result.is_ok(),
        "test_vmalloc failed: {}",
        result.err().map(|e| alloc::format!("{e}")).unwrap_or_default()
    );
    kassert_eq!(Usage::now(), before);
    Ok(())
}
