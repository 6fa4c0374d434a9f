//! `test_vmalloc`: a port of Linux's lib/test_vmalloc.c, the module its
//! vmalloc maintainers use to stress and time the allocator.
//!
//! ```text
//! mosaic> test_vmalloc run_test_mask=1 test_loop_count=100000
//! test_vmalloc: tree allocator, TSC 2596.142 MHz, loops 100000, repeat 1, nr_pages 0
//! Summary: fix_size_alloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 100000 avg: 312345 usec
//! mosaic: fix_size_alloc_test 3123 ns per loop (tree allocator)
//! ```
//!
//! The parameters keep Linux's module-parameter names and defaults, and
//! `run_test_mask` keeps Linux's bit order, so the parameters of a Linux
//! `modprobe test_vmalloc ...` can be typed here unchanged. Each selected
//! test case runs `test_repeat_count` times; the `Summary:` line is Linux's
//! as it is today (with `xfailed:`, since 6.15), byte for byte
//! (`summary_6_1=1` prints Linux 6.1's line instead, for comparing with
//! that kernel's output): `avg` is the mean time of one repeat (all its loops), in
//! microseconds, measured with the TSC (drivers/tsc.rs). The `mosaic:` line
//! after it is Mosaic's own: the same time per loop in nanoseconds, and
//! which area allocator (list or tree, see mm/vmap_area/) served the calls.
//!
//! The case list is Linux's today: thirteen cases, the last two
//! (`no_block_alloc_test`, `vrealloc_test`) in test_vmalloc_cases.rs, and
//! Linux's default `run_test_mask` of 7 (the first three cases; it was
//! INT_MAX, all of them, until Linux let the module be built in). The
//! other test bodies are Linux 6.1's, unchanged since (see each function). Where a description
//! and the source could disagree, the source wins: random_size_align takes
//! 1 to 10 pages at alignments of 2^0 to 2^22 bytes, both from one random
//! number, as Linux does.
//!
//! Differences from Linux, all deliberate:
//!
//! - One CPU, one thread, tests in mask order (Linux's
//!   `sequential_test_order=1`; Linux shuffles by default). Random sizes
//!   come from a seeded xorshift generator, so two runs make exactly the
//!   same requests and their times can be compared.
//! - `pcpu_alloc_test` (bit 7) and the two `kvfree_rcu` tests (bits 8 and
//!   9) need a per-CPU allocator and RCU, which Mosaic does not have: they
//!   are reported once as not applicable and skipped (`nr_pcpu_objects`
//!   is accepted for them). `use_huge=1` makes fix_size_alloc_test call
//!   `vmalloc_huge`, as Linux's does (2 MiB leaves from `nr_pages=512`
//!   on). `nr_threads` may be 0 or 1 (one CPU), and
//!   `sequential_test_order` is accepted: the order is always sequential.
//! - `vm_map_ram_test` uses `vm_map_ram`/`vm_unmap_ram` on vmap blocks
//!   with the lazy flush, as Linux's does (one queue of blocks: one CPU);
//!   at its end `vm_unmap_aliases` gives the last block back.
//! - A failed setup allocation fails the test case (Linux stores NULL and
//!   carries on), and so does a `vfree` that reports an error.
//! - Bad parameters are refused with an `error:` line instead of clamped.
//! - `busy_areas=N` is Mosaic's own: N one-page areas are allocated before
//!   the tests and freed after them. They sit below everything the tests
//!   allocate, so each call of the list allocator walks past all of them,
//!   while the tree's cost hardly moves: the O(n) against O(log n) of
//!   mm/vmap_area/, measured (docs/benchmarks.md).
//! - `short_by=N` is Mosaic's own too: the cases' vmalloc calls ask for N
//!   bytes less than their pages (below a page), so that each area has a
//!   redzone for the overrun check (mm/redzone.rs) to fill and compare;
//!   its cost, measured (docs/benchmarks.md, "The overrun check").
//! - `plain_vmap=1` is Mosaic's own as well: `vm_map_ram_test` maps its
//!   pages with `vmap` and unmaps them with `vunmap` (an area from the
//!   area allocator and a TLB flush every loop, the way before vmap
//!   blocks), so that the two ways are measured side by side
//!   (docs/benchmarks.md).
//!
//! `align_shift_alloc_test` is meant to fail, in Linux as here: it asks for
//! one page aligned to 2^0, 2^1, ... 2^63 bytes and stops at the first
//! alignment no free range can satisfy (here 2^46: the vmalloc area spans 32
//! TiB). Linux marks it as expected to fail and counts such a failure as
//! *xfailed*, and so does Mosaic: its Summary line reads `passed: 0
//! failed: 0 xfailed: N` (6.1 counted it as failed: `passed: 0 failed: N`);
//! the `mosaic:` line says where it stopped. It passing would mean an
//! absurd alignment was granted, and counts as a failure.
//!
//! Afterwards the command checks that nothing leaked: the vmalloc areas and
//! the pages (free, in page tables, or held by the heap) must be what they
//! were before, or it ends with an `error:` line.

use crate::drivers::tsc;
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_alloc::ZoneType;
use crate::mm::vmalloc::{self, VmError};
use crate::rand::XorShift64 as XorShift;

mod cases;
mod usage;

use crate::message::Message;
use crate::{bail, println};
use alloc::vec::Vec;
use core::fmt;
pub use usage::Usage;
use x86_64::structures::paging::PhysFrame;
use x86_64::VirtAddr;

/// Linux's module parameters, with its defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Bit i selects test case i. Linux's default is 7 (the first three
    /// cases) since it let the module be built in; it was INT_MAX (all).
    pub run_test_mask: u64,
    pub test_loop_count: u64,
    pub test_repeat_count: u64,
    /// Pages for fix_size_alloc_test and vm_map_ram_test; 0 means 1.
    pub nr_pages: u64,
    /// Mosaic's own: one-page areas kept alive below the tests' own while
    /// they run, to show how each area allocator scales with the number of
    /// busy areas.
    pub busy_areas: u64,
    /// Mosaic's own: bytes less than whole pages each vmalloc asks for.
    pub short_by: u64,
    /// Linux's `vmalloc_huge` switch for fix_size_alloc_test: accepted,
    /// but Mosaic maps 4 KiB pages only, and says so.
    pub use_huge: bool,
    /// Linux's worker threads: Mosaic has one CPU, so 0 or 1.
    pub nr_threads: u64,
    /// Accepted for Linux's command lines; Mosaic always runs in order.
    pub sequential_test_order: bool,
    /// Objects of pcpu_alloc_test: accepted, the case is not applicable.
    pub nr_pcpu_objects: u64,
    /// Mosaic's own: print Linux 6.1's Summary line (no `xfailed:`; an
    /// expected failure counts as failed), for comparing with 6.1's output.
    pub summary_6_1: bool,
    /// Mosaic's own: vm_map_ram_test maps with plain `vmap`/`vunmap` (an
    /// area of its own and a TLB flush per loop) instead of vmap blocks.
    pub plain_vmap: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            run_test_mask: DEFAULT_MASK,
            test_loop_count: 1_000_000,
            test_repeat_count: 1,
            nr_pages: 0,
            busy_areas: 0,
            short_by: 0,
            use_huge: false,
            nr_threads: 0,
            sequential_test_order: false,
            nr_pcpu_objects: 35_000,
            summary_6_1: false,
            plain_vmap: false,
        }
    }
}

/// Linux's parameters are `int`s: the largest value it accepts.
pub const INT_MAX: u64 = i32::MAX as u64;
/// Linux's default run_test_mask: fix_size, full_fit, long_busy_list.
pub const DEFAULT_MASK: u64 = 7;
pub const PARAM_NAMES: &str = "run_test_mask, test_loop_count, test_repeat_count, nr_pages, use_huge, nr_threads, \
                               sequential_test_order, nr_pcpu_objects, busy_areas, short_by, summary_6_1, \
                               plain_vmap";

/// `short_by` of the run under way (read by `alloc`, which has no context).
static SHORT_BY: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
/// `use_huge` of the run under way (read by fix_size_alloc_test's `alloc`).
static USE_HUGE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Why a test case stopped early: Linux just returns -1; Mosaic keeps the
/// step and the error to show on the `mosaic:` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub step: Step,
    /// What the failing call returned (none for `Step::Interrupted`).
    pub error: Option<VmError>,
}

/// The call that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Bookkeeping {
        entries: u64,
    },
    Vmalloc {
        pages: u64,
    },
    AlignedVmalloc {
        pages: u64,
        align: u64,
    },
    AlignShift {
        shift: u32,
    },
    /// An aligned request came back at an address that is not a
    /// multiple of the alignment.
    Misaligned {
        addr: u64,
        align: u64,
    },
    Vfree {
        addr: u64,
    },
    AllocPage {
        index: u64,
    },
    Vmap {
        pages: u64,
    },
    Vunmap {
        addr: u64,
    },
    Vrealloc {
        size: u64,
    },
    /// A byte written before a vrealloc read back different after it.
    Contents {
        size: u64,
    },
    /// Ctrl-C on the console: the run stops and frees what it holds.
    Interrupted,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.step {
            Step::Bookkeeping { entries } => write!(f, "an array of {entries} pointers")?,
            Step::Vmalloc { pages } => write!(f, "vmalloc of {pages} pages")?,
            Step::AlignedVmalloc { pages, align } => {
                write!(f, "__vmalloc_node of {pages} pages aligned to {align:#x}")?
            }
            Step::AlignShift { shift } => write!(f, "alignment 1 << {shift}")?,
            Step::Misaligned { addr, align } => {
                write!(f, "__vmalloc_node aligned to {align:#x} returned {addr:#x}, not a multiple of it")?
            }
            Step::Vfree { addr } => write!(f, "vfree({addr:#x})")?,
            Step::AllocPage { index } => write!(f, "alloc_pages for page {index}")?,
            Step::Vmap { pages } => write!(f, "vm_map_ram of {pages} pages")?,
            Step::Vunmap { addr } => write!(f, "vm_unmap_ram({addr:#x})")?,
            Step::Vrealloc { size } => write!(f, "vrealloc to {size} bytes")?,
            Step::Contents { size } => write!(f, "contents lost by vrealloc to {size} bytes")?,
            Step::Interrupted => write!(f, "interrupted by Ctrl-C")?,
        }
        match self.error {
            Some(e) => write!(f, ": {e}"),
            None => Ok(()),
        }
    }
}

pub(super) type Outcome = Result<(), Failure>;

pub(super) fn fail(step: Step) -> impl FnOnce(VmError) -> Failure {
    move |error| Failure { step, error: Some(error) }
}

/// What a test case runs with.
pub(super) struct Ctx {
    loops: u64,
    pub(super) nr_pages: u64,
    /// vm_map_ram_test through `vmap`/`vunmap` (`plain_vmap=1`).
    plain_vmap: bool,
    rng: XorShift,
    /// Loop iterations completed (summed over repeats): the divisor for
    /// the time per loop.
    done: u64,
    /// Ctrl-C stopped the case: no more repeats.
    interrupted: bool,
}

/// One entry of Linux's `test_case_array`; `run` is None where Mosaic
/// lacks what the test exercises.
struct Case {
    name: &'static str,
    run: Option<fn(&mut Ctx) -> Outcome>,
    /// Meant to fail: a failure counts as `xfailed`, a pass as failed.
    xfail: bool,
}

const fn case(name: &'static str, run: fn(&mut Ctx) -> Outcome) -> Case {
    Case { name, run: Some(run), xfail: false }
}

const fn not_applicable(name: &'static str) -> Case {
    Case { name, run: None, xfail: false }
}

/// Linux's test cases, in Linux's order: bit i of run_test_mask is CASES[i].
const CASES: [Case; 13] = [
    case("fix_size_alloc_test", fix_size_alloc_test),
    case("full_fit_alloc_test", full_fit_alloc_test),
    case("long_busy_list_alloc_test", long_busy_list_alloc_test),
    case("random_size_alloc_test", random_size_alloc_test),
    case("fix_align_alloc_test", fix_align_alloc_test),
    case("random_size_align_alloc_test", random_size_align_alloc_test),
    Case { name: "align_shift_alloc_test", run: Some(align_shift_alloc_test), xfail: true },
    not_applicable("pcpu_alloc_test"),
    not_applicable("kvfree_rcu_1_arg_vmalloc_test"),
    not_applicable("kvfree_rcu_2_arg_vmalloc_test"),
    case("vm_map_ram_test", vm_map_ram_test),
    case("no_block_alloc_test", cases::no_block_alloc_test),
    case("vrealloc_test", cases::vrealloc_test),
];

pub const ALIGN_SHIFT: usize = 6;

// ---------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------

/// Runs the cases `params` selects and prints their reports (the
/// `test_vmalloc` command; the shell parses its arguments).
pub fn run(params: &Params) -> Result<(), Message> {
    let params = *params;
    check_params(&params)?;
    SHORT_BY.store(params.short_by, core::sync::atomic::Ordering::Relaxed);
    USE_HUGE.store(params.use_huge, core::sync::atomic::Ordering::Relaxed);
    // Under `vfree lazy`, ranges freed before or during the run wait for
    // a purge: purge before each snapshot, so both see only live areas.
    vmalloc::purge_vmap_area_lazy();
    let before = Usage::now();
    let busy = hold_busy_areas(params.busy_areas)?;
    let allocator = vmalloc::totals().allocator;
    let khz = tsc::khz();
    println!(
        "test_vmalloc: {allocator} allocator, TSC {}.{:03} MHz, loops {}, repeat {}, nr_pages {}",
        khz / 1000,
        khz % 1000,
        params.test_loop_count,
        params.test_repeat_count,
        params.nr_pages
    );
    let skipped: Vec<&str> =
        selected(params.run_test_mask).filter(|&i| CASES[i].run.is_none()).map(|i| CASES[i].name).collect();
    if !skipped.is_empty() {
        println!(
            "test_vmalloc: not applicable, skipped (Mosaic has no per-CPU allocator and no RCU): {}",
            skipped.join(", ")
        );
    }
    if !busy.is_empty() {
        println!("mosaic: {} one-page areas held busy during the tests (busy_areas)", busy.len());
    }
    let mut interrupted = false;
    for index in selected(params.run_test_mask).filter(|&i| CASES[i].run.is_some()) {
        let report = run_case(index, &params);
        print_report(&report, &params, allocator);
        interrupted = matches!(report.failure, Some(Failure { step: Step::Interrupted, .. }));
        if interrupted {
            break;
        }
    }
    let freed = free_all(&busy);
    vmalloc::purge_vmap_area_lazy();
    let after = Usage::now();
    if let Err(f) = freed {
        bail!("test_vmalloc: {f}");
    }
    if let Some(leak) = before.compare(&after) {
        bail!("test_vmalloc leaked: {leak}");
    }
    if interrupted {
        bail!("test_vmalloc: interrupted by Ctrl-C; the cases left were not run, and nothing is left allocated");
    }
    Ok(())
}

/// Allocates `count` one-page areas for `busy_areas`. They are made first,
/// so they sit at the bottom of the vmalloc area, below everything the
/// tests allocate: the list has to walk past all of them on every call.
fn hold_busy_areas(count: u64) -> Result<Vec<VirtAddr>, Message> {
    let no_memory = |e: Failure| Message::new(format_args!("busy_areas={count}: {e}"));
    let mut busy = bookkeeping(count).map_err(no_memory)?;
    for _ in 0..count {
        match alloc(1) {
            Ok(p) => busy.push(p),
            Err(f) => {
                let _ = free_all(&busy);
                return Err(no_memory(f));
            }
        }
    }
    Ok(busy)
}

/// Indices of the test cases the mask selects, in order.
fn selected(mask: u64) -> impl Iterator<Item = usize> {
    (0..CASES.len()).filter(move |&i| mask & (1 << i) != 0)
}

pub fn check_params(p: &Params) -> Result<(), Message> {
    if p.run_test_mask & ((1 << CASES.len()) - 1) == 0 {
        bail!("run_test_mask={:#x} selects no test (bits 0-{} are the tests)", p.run_test_mask, CASES.len() - 1);
    }
    if p.test_loop_count == 0 {
        bail!("test_loop_count must be at least 1");
    }
    if p.short_by >= PAGE_SIZE {
        bail!("short_by={} must be below a page ({PAGE_SIZE})", p.short_by);
    }
    if p.test_repeat_count == 0 {
        bail!("test_repeat_count must be at least 1");
    }
    if p.nr_threads > 1 {
        bail!("nr_threads={}: Mosaic runs on one CPU, so one worker (0 or 1)", p.nr_threads);
    }
    // vm_map_ram_test holds nr_pages pages and a list of them for the whole
    // run, and each vmalloc of fix_size_alloc_test takes as many: more than
    // what is free could never work.
    let free = crate::mm::with_pages(|p| p.free_pages_total());
    if p.nr_pages > free / 2 {
        bail!("nr_pages={} is more than half of the {free} free pages", p.nr_pages);
    }
    // Each busy area holds a page (and some heap).
    if p.busy_areas > free / 4 {
        bail!("busy_areas={} is more than a quarter of the {free} free pages", p.busy_areas);
    }
    Ok(())
}

/// Prints Linux's Summary line and Mosaic's own line for one test case.
fn print_report(r: &Report, p: &Params, allocator: &str) {
    let (name, repeat, loops, avg) = (r.name, p.test_repeat_count, p.test_loop_count, r.avg_ns / 1000);
    if p.summary_6_1 {
        // Linux 6.1 had no xfailed: an expected failure was a failure.
        let failed = r.failed + r.xfailed;
        println!(
            "Summary: {name} passed: {} failed: {failed} repeat: {repeat} loops: {loops} avg: {avg} usec",
            r.passed
        );
    } else {
        println!(
            "Summary: {name} passed: {} failed: {} xfailed: {} repeat: {repeat} loops: {loops} avg: {avg} usec",
            r.passed, r.failed, r.xfailed
        );
    }
    crate::print!("mosaic: {} {} ns per loop ({allocator} allocator)", r.name, r.ns_per_loop);
    if let Some(f) = r.failure {
        crate::print!("; failed at {f}");
        if r.index == ALIGN_SHIFT {
            crate::print!(" (expected: Linux's align_shift_alloc_test is meant to fail)");
        }
    }
    println!();
}

// ---------------------------------------------------------------------------
// Running one test case
// ---------------------------------------------------------------------------

/// The result of `test_repeat_count` runs of one test case.
#[derive(Clone, Copy, Debug)]
pub struct Report {
    pub index: usize,
    pub name: &'static str,
    pub passed: u64,
    pub failed: u64,
    /// Failures of a case meant to fail (Linux 6.15's `test_xfailed`).
    pub xfailed: u64,
    /// Mean time of one repeat, in nanoseconds (Linux's avg, finer).
    pub avg_ns: u64,
    /// Total time over the loop iterations actually done.
    pub ns_per_loop: u64,
    /// The last failure, if any.
    pub failure: Option<Failure>,
}

/// Runs test case `index` (which must be implemented) as Linux's
/// `test_func` does: repeat, count passes and failures, time it all.
pub fn run_case(index: usize, p: &Params) -> Report {
    let case = &CASES[index];
    let run = case.run.expect("only implemented cases are run");
    // One fixed seed per case: the same requests whatever else is selected.
    let mut ctx = Ctx {
        loops: p.test_loop_count,
        nr_pages: p.nr_pages,
        plain_vmap: p.plain_vmap,
        rng: case_rng(index as u64),
        done: 0,
        interrupted: false,
    };
    let (mut passed, mut failed, mut xfailed, mut failure) = (0, 0, 0, None);
    let start = tsc::now();
    for _ in 0..p.test_repeat_count {
        // As Linux counts: a pass of a case meant to fail is a failure.
        match (run(&mut ctx), case.xfail) {
            (Ok(()), false) => passed += 1,
            (Ok(()), true) => failed += 1,
            (Err(f), xfail) => {
                if xfail && f.step != Step::Interrupted {
                    xfailed += 1;
                } else {
                    failed += 1;
                }
                failure = Some(f);
            }
        }
        if ctx.interrupted {
            break;
        }
    }
    let total_ns = tsc::cycles_to_ns(tsc::now() - start);
    Report {
        index,
        name: case.name,
        passed,
        failed,
        xfailed,
        avg_ns: total_ns / p.test_repeat_count,
        ns_per_loop: total_ns / ctx.done.max(1),
        failure,
    }
}

// ---------------------------------------------------------------------------
// The test cases (Linux 6.1's bodies, reimplemented)
// ---------------------------------------------------------------------------

/// Writes one byte at `addr`, as Linux's tests do to prove the page is
/// really mapped (and to pay for the TLB miss).
pub(super) fn touch(addr: VirtAddr, value: u8) {
    // SAFETY: callers pass the start of an area they just allocated or
    // mapped, which holds at least one writable page.
    unsafe { addr.as_mut_ptr::<u8>().write_volatile(value) }
}

pub(super) fn alloc(pages: u64) -> Result<VirtAddr, Failure> {
    let short_by = SHORT_BY.load(core::sync::atomic::Ordering::Relaxed);
    vmalloc::vmalloc(pages * PAGE_SIZE - short_by).map_err(fail(Step::Vmalloc { pages }))
}

/// A zeroed allocation at an alignment (Linux's `__vmalloc_node` with
/// `__GFP_ZERO`).
/// The result must be a multiple of `align`: a misaligned one is freed
/// and reported.
fn alloc_aligned(pages: u64, align: u64) -> Result<VirtAddr, Failure> {
    let addr = vmalloc::__vmalloc_node(pages * PAGE_SIZE, align, ZoneType::Normal, true)
        .map_err(fail(Step::AlignedVmalloc { pages, align }))?;
    if addr.as_u64() % align != 0 {
        free(addr)?;
        return Err(Failure { step: Step::Misaligned { addr: addr.as_u64(), align }, error: None });
    }
    Ok(addr)
}

pub(super) fn free(addr: VirtAddr) -> Outcome {
    vmalloc::vfree(addr).map_err(fail(Step::Vfree { addr: addr.as_u64() }))
}

/// Frees every area in `areas`, even after a failure; reports the first.
fn free_all(areas: &[VirtAddr]) -> Outcome {
    let mut first = Ok(());
    for &a in areas {
        let r = free(a);
        if first.is_ok() {
            first = r;
        }
    }
    first
}

/// A vector for `n` entries from the heap, or a failure (Linux vmallocs
/// its pointer arrays and fails the test if that fails).
fn bookkeeping<T>(n: u64) -> Result<Vec<T>, Failure> {
    let mut v = Vec::new();
    v.try_reserve_exact(n as usize).map_err(|_| fail(Step::Bookkeeping { entries: n })(VmError::NoMemory))?;
    Ok(v)
}

/// Runs `body` test_loop_count times, stopping at the first failure, or
/// at Ctrl-C (checked before every loop; the case then frees what it holds
/// as after any failure).
pub(super) fn each_loop(ctx: &mut Ctx, mut body: impl FnMut(&mut XorShift) -> Outcome) -> Outcome {
    for _ in 0..ctx.loops {
        if crate::drivers::serial::take_interrupt() {
            ctx.interrupted = true;
            return Err(Failure { step: Step::Interrupted, error: None });
        }
        body(&mut ctx.rng)?;
        ctx.done += 1;
    }
    Ok(())
}

/// vmalloc (`vmalloc_huge` with use_huge=1) nr_pages pages (at least
/// 1), touch, vfree.
fn fix_size_alloc_test(ctx: &mut Ctx) -> Outcome {
    let pages = ctx.nr_pages.max(1);
    let huge = USE_HUGE.load(core::sync::atomic::Ordering::Relaxed);
    each_loop(ctx, |_| {
        let p = match huge {
            true => vmalloc::vmalloc_huge(pages * PAGE_SIZE).map_err(fail(Step::Vmalloc { pages }))?,
            false => alloc(pages)?,
        };
        touch(p, 0);
        free(p)
    })
}

/// Linux: fls(num_online_cpus()) * 32 MiB / PAGE_SIZE; Mosaic has one CPU.
const JUNK_LENGTH: u64 = 32 * 1024 * 1024 / PAGE_SIZE;

/// Fills the bottom of the area with pairs of one-page areas, frees one of
/// each pair, then allocates into the holes that leaves: each hole is an
/// exact fit for a one-page request.
fn full_fit_alloc_test(ctx: &mut Ctx) -> Outcome {
    let mut kept = bookkeeping(JUNK_LENGTH)?;
    let mut junk = bookkeeping(JUNK_LENGTH)?;
    let mut result = Ok(());
    for _ in 0..JUNK_LENGTH {
        // Each area is recorded as soon as it exists, so that it is freed
        // below whatever fails next.
        result = alloc(1)
            .and_then(|a| {
                kept.push(a);
                alloc(1)
            })
            .map(|b| junk.push(b));
        if result.is_err() {
            break;
        }
    }
    let freed_junk = free_all(&junk);
    if result.is_ok() {
        result = freed_junk.and_then(|()| {
            each_loop(ctx, |_| {
                let p = alloc(1)?;
                touch(p, 1);
                free(p)
            })
        });
    }
    result.and(free_all(&kept))
}

/// Busy areas the long list is made of (Linux's number).
const LONG_BUSY_LIST: u64 = 15_000;

/// With 15000 one-page areas alive, allocate 100 pages and one page, touch,
/// free both: a search that has to get past all the busy areas.
fn long_busy_list_alloc_test(ctx: &mut Ctx) -> Outcome {
    let mut busy = bookkeeping(LONG_BUSY_LIST)?;
    let mut result = Ok(());
    for _ in 0..LONG_BUSY_LIST {
        match alloc(1) {
            Ok(p) => busy.push(p),
            Err(f) => {
                result = Err(f);
                break;
            }
        }
    }
    if result.is_ok() {
        result = each_loop(ctx, |_| {
            let big = alloc(100)?;
            let small = match alloc(1) {
                Ok(p) => p,
                Err(f) => return free(big).and(Err(f)),
            };
            touch(big, 0);
            touch(small, 1);
            free(big).and(free(small))
        });
    }
    result.and(free_all(&busy))
}

/// vmalloc 1..=100 pages at random, touch, vfree.
fn random_size_alloc_test(ctx: &mut Ctx) -> Outcome {
    each_loop(ctx, |rng| {
        let p = alloc(rng.range(1, 100))?;
        touch(p, 1);
        free(p)
    })
}

/// Linux's THREAD_ALIGN << 1 on x86_64 (THREAD_ALIGN is the 16 KiB stack).
const FIX_ALIGN: u64 = 32 * 1024;

/// Zeroed 5 pages at 32 KiB alignment (what a thread stack would want).
fn fix_align_alloc_test(ctx: &mut Ctx) -> Outcome {
    each_loop(ctx, |_| free(alloc_aligned(5, FIX_ALIGN)?))
}

/// Zeroed 1..=10 pages aligned to 2^0..2^22 bytes; as in Linux, one random
/// number gives both (its remainders by 23 and by 10).
fn random_size_align_alloc_test(ctx: &mut Ctx) -> Outcome {
    each_loop(ctx, |rng| {
        let r = rng.next_u64();
        free(alloc_aligned(r % 10 + 1, 1 << (r % 23))?)
    })
}

/// One zeroed page at every alignment 2^0 .. 2^63: expected to fail once
/// the alignment is larger than the vmalloc area can honour (see the top).
/// test_loop_count does not apply; the 64 steps are the loop.
fn align_shift_alloc_test(ctx: &mut Ctx) -> Outcome {
    for shift in 0..u64::BITS {
        ctx.done += 1;
        let p = alloc_aligned(1, 1 << shift).map_err(|f| Failure { step: Step::AlignShift { shift }, ..f })?;
        free(p)?;
    }
    Ok(())
}

/// Map nr_pages (at least 1) pages of our own, touch, unmap; the pages are
/// allocated once, before the loop, and freed after it. With
/// `plain_vmap=1`, through `vmap`/`vunmap` instead of vmap blocks.
fn vm_map_ram_test(ctx: &mut Ctx) -> Outcome {
    let count = ctx.nr_pages.max(1);
    let mut pages: Vec<PhysFrame> = bookkeeping(count)?;
    let mut result = Ok(());
    for _ in 0..count {
        match crate::mm::alloc_pages(0, ZoneType::Normal) {
            Ok(frame) => pages.push(frame),
            Err(_) => {
                result = Err(fail(Step::AllocPage { index: pages.len() as u64 })(VmError::NoMemory));
                break;
            }
        }
    }
    if result.is_ok() {
        // Two loops rather than a test inside one, so that the timed loop
        // of each way holds only its own calls.
        result = if ctx.plain_vmap {
            each_loop(ctx, |_| {
                let v = vmalloc::vmap(&pages, 0).map_err(fail(Step::Vmap { pages: count }))?;
                touch(v, b'a');
                vmalloc::vunmap(v).map(drop).map_err(fail(Step::Vunmap { addr: v.as_u64() }))
            })
        } else {
            each_loop(ctx, |_| {
                let v = vmalloc::vm_map_ram(&pages).map_err(fail(Step::Vmap { pages: count }))?;
                touch(v, b'a');
                vmalloc::vm_unmap_ram(v, count).map_err(fail(Step::Vunmap { addr: v.as_u64() }))
            })
        };
    }
    // Flush what was freed lazily and give the last, fragmented block
    // back, so that the leak check sees the vmalloc area as it was.
    vmalloc::vm_unmap_aliases();
    for frame in &pages {
        crate::mm::free_pages(frame.start_address(), 0).expect("our own order-0 page");
    }
    result
}

/// The generator for one test case: seeded from the case's index, so that
/// cases differ and two runs make exactly the same requests.
fn case_rng(stream: u64) -> XorShift {
    XorShift::new(0x9e37_79b9_7f4a_7c15 ^ stream.wrapping_mul(0xbf58_476d_1ce4_e5b9))
}
