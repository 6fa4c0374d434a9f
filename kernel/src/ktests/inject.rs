//! In-kernel fault-injection tests, used the way Linux's fail_page_alloc
//! is: for each vmalloc-family operation, count the page allocations it
//! makes when nothing fails, then run it once with each of them failing in
//! turn (`mm::fail_nth`). Every such run must end in a clean out-of-memory
//! error and leave no trace: no page leaked, the same areas and address
//! spaces as before, nothing mapped where the call was going, and the same
//! call succeeding, at the same place, right after.
//!
//! The allocations counted include the kernel heap's (slab refills, large
//! blocks): the bookkeeping of a call must fail cleanly too, not panic.

use crate::ktest::{Failed, Test, TestResult};
use crate::mm::aspace::{self, AsError, Strategy};
use crate::mm::layout::{phys_to_virt, VMALLOC_END, VMALLOC_START};
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_alloc::ZoneType;
use crate::mm::pgtable::{self, master_pgd};
use crate::mm::vmalloc::{self, VmError};
use crate::mm::{alloc_calls, alloc_pages, fail_nth, fail_nth_pending, free_pages, injected_failures, with_pages};
use crate::{kassert, kassert_eq, println};
use alloc::vec::Vec;
use x86_64::structures::paging::{PageTableFlags as Flags, PhysFrame};
use x86_64::VirtAddr;

pub const TESTS: &[Test] = crate::suite![
    "inject::switch_fails_the_nth_allocation_once" => switch,
    "inject::vmalloc_1_page" => vmalloc_1_page,
    "inject::vmalloc_5_pages" => vmalloc_5_pages,
    "inject::vmalloc_300_pages" => vmalloc_300_pages,
    "inject::vmalloc_with_new_page_tables" => vmalloc_new_tables,
    "inject::vmalloc_beside_many_areas" => vmalloc_beside_many_areas,
    "inject::vzalloc" => vzalloc,
    "inject::vmap_3_pages" => vmap_3_pages,
    "inject::vm_map_ram_3_pages" => vm_map_ram_3_pages,
    "inject::ioremap_hpet" => ioremap_hpet,
    "inject::aspace_create" => aspace_create,
    "inject::failed_mapping_gives_back_its_tables" => failed_mapping_gives_back_its_tables,
    // Last: preallocated page tables cannot be given back.
    "inject::pgd_sync_prealloc" => pgd_sync_prealloc,
];

/// What a failed call must leave as it found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot {
    /// Free pages plus page-table and heap pages, as in ktests/vmalloc.rs: page
    /// tables made before the failure may stay (they are counted here), a
    /// data page or PGD page not given back shows as a drop.
    pages: u64,
    areas: usize,
    spaces: usize,
}

fn snapshot() -> Snapshot {
    let pages = crate::mm::pages_accounted();
    Snapshot { pages, areas: vmalloc::totals().areas, spaces: aspace::count() }
}

/// Why an operation failed. Only out-of-memory is a clean answer to an
/// injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    Vm(VmError),
    As(AsError),
}

impl Failure {
    fn is_out_of_memory(self) -> bool {
        matches!(self, Failure::Vm(VmError::NoMemory) | Failure::As(AsError::NoMemory))
    }
}

/// A range of `pages` pages from `start`.
type Range = Option<(VirtAddr, u64)>;

/// One operation under test.
struct Case<'a> {
    name: &'static str,
    /// Does the operation once; returns what it made (an address or an id).
    run: &'a dyn Fn() -> Result<u64, Failure>,
    /// Takes back what `run` made.
    undo: &'a dyn Fn(u64),
    /// The pages mapped by a call that made this, if it maps any.
    range: &'a dyn Fn(u64) -> Range,
}

/// Runs `op` with its k-th allocation failing. Also says whether the
/// failure was injected: a call that makes fewer allocations never sees it.
fn run_failing<T>(op: &dyn Fn() -> T, k: u64) -> (T, bool) {
    let injected = injected_failures();
    fail_nth(Some(k));
    let result = op();
    fail_nth(None);
    (result, injected_failures() != injected)
}

/// Pages of the range that are mapped in the master page table.
fn mapped_pages(range: Range) -> u64 {
    let Some((start, pages)) = range else { return 0 };
    (0..pages).filter(|&i| pgtable::walk(master_pgd(), start + i * PAGE_SIZE).phys.is_some()).count() as u64
}

/// Runs the operation with nothing failing, undoes it, and returns how
/// many allocations it made and where it mapped.
fn count(case: &Case) -> Result<(u64, Range), Failed> {
    let before = snapshot();
    let calls = alloc_calls();
    let made = (case.run)();
    let count = alloc_calls() - calls;
    kassert!(made.is_ok(), "{}: fails with nothing injected: {:?}", case.name, made);
    let made = made.unwrap_or_default();
    let range = (case.range)(made);
    (case.undo)(made);
    let after = snapshot();
    kassert!(after == before, "{}: undo leaves {:?}, not {:?}", case.name, after, before);
    Ok((count, range))
}

/// The checks after a run whose allocation `k` failed, then the retry.
/// `range` is where the call maps when it succeeds.
fn check_failure(case: &Case, k: u64, count: u64, range: Range) -> TestResult {
    let name = case.name;
    let before = snapshot();
    let (result, fired) = run_failing(case.run, k);
    if let Ok(made) = result {
        (case.undo)(made);
    }
    kassert!(fired, "{name}: made fewer than {k} allocations this time (counted {count})");
    kassert!(
        result.is_err_and(Failure::is_out_of_memory),
        "{name}: allocation {k} of {count} failed, and the call returned {:?}",
        result
    );
    let after = snapshot();
    kassert!(after == before, "{name}: allocation {k} of {count} failed: {:?} after, {:?} before", after, before);
    kassert_eq!(vmalloc::check(), Ok(()));
    let mapped = mapped_pages(range);
    kassert!(mapped == 0, "{name}: allocation {k} of {count} failed, and {mapped} pages of {:?} stay mapped", range);
    // The switch is off again: the same call succeeds, at the same place.
    let again = (case.run)();
    kassert!(again.is_ok(), "{name}: the call after failing allocation {k} fails too: {:?}", again);
    let made = again.unwrap_or_default();
    let same = (case.range)(made) == range;
    (case.undo)(made);
    kassert!(same, "{name}: the call after failing allocation {k} went elsewhere");
    kassert_eq!(snapshot(), before);
    Ok(())
}

/// Fails each allocation of the operation in turn.
fn every_failure(case: &Case) -> TestResult {
    // A first call grows the bookkeeping's vectors to what the call needs
    // (they never shrink), so that the counted call makes exactly the
    // allocations every later one makes.
    count(case)?;
    let (count, range) = count(case)?;
    println!("    {}: {count} allocations", case.name);
    for k in 1..=count {
        check_failure(case, k, count, range)?;
    }
    Ok(())
}

fn vm(result: Result<VirtAddr, VmError>) -> Result<u64, Failure> {
    result.map(|a| a.as_u64()).map_err(Failure::Vm)
}

fn vfree(addr: u64) {
    vmalloc::vfree(VirtAddr::new(addr)).expect("vfree of an area just made");
}

/// A vmalloc of `pages` pages, failed at every allocation.
fn vmalloc_pages(name: &'static str, pages: u64) -> TestResult {
    every_failure(&Case {
        name,
        run: &|| vm(vmalloc::vmalloc(pages * PAGE_SIZE)),
        undo: &vfree,
        range: &|a| Some((VirtAddr::new(a), pages)),
    })
}

fn vmalloc_1_page() -> TestResult {
    vmalloc_pages("vmalloc 1 page", 1)
}

fn vmalloc_5_pages() -> TestResult {
    vmalloc_pages("vmalloc 5 pages", 5)
}

/// More than a PTE table's worth of pages would not fit in one array of
/// page frames on the slab: the page array is a large heap block.
fn vmalloc_300_pages() -> TestResult {
    vmalloc_pages("vmalloc 300 pages", 300)
}

fn vzalloc() -> TestResult {
    every_failure(&Case {
        name: "vzalloc 3 pages",
        run: &|| vm(vmalloc::vzalloc(3 * PAGE_SIZE)),
        undo: &vfree,
        range: &|a| Some((VirtAddr::new(a), 3)),
    })
}

/// vmap of three pages the test owns: a failure must leave them the
/// caller's, allocated and unmapped.
fn vmap_3_pages() -> TestResult {
    let mut frames: Vec<PhysFrame> = Vec::new();
    for _ in 0..3 {
        frames.push(alloc_pages(0, ZoneType::Normal).expect("three pages"));
    }
    let case = Case {
        name: "vmap 3 pages",
        run: &|| vm(vmalloc::vmap(&frames, 0)),
        undo: &|a| drop(vmalloc::vunmap(VirtAddr::new(a)).expect("vunmap of an area just made")),
        range: &|a| Some((VirtAddr::new(a), 3)),
    };
    let result = every_failure(&case).and_then(|_| in_fresh_pte_table(&case, 4 * PAGE_SIZE, 1));
    let still_ours = frames.iter().all(|f| with_pages(|p| p.allocated_order(f.start_address())) == Some(0));
    for f in &frames {
        free_pages(f.start_address(), 0).expect("the test's own pages");
    }
    result?;
    kassert!(still_ours, "vmap freed or lost the caller's pages");
    Ok(())
}

/// vm_map_ram from a vmap block: the block's area and bookkeeping, and
/// page tables, are the allocations that can fail. The undo flushes and
/// gives the block back (vm_unmap_aliases), so that the areas are as before.
fn vm_map_ram_3_pages() -> TestResult {
    let mut frames: Vec<PhysFrame> = Vec::new();
    for _ in 0..3 {
        frames.push(alloc_pages(0, ZoneType::Normal).expect("three pages"));
    }
    let case = Case {
        name: "vm_map_ram 3 pages",
        run: &|| vm(vmalloc::vm_map_ram(&frames)),
        undo: &|a| {
            vmalloc::vm_unmap_ram(VirtAddr::new(a), 3).expect("vm_unmap_ram of a mapping just made");
            vmalloc::vm_unmap_aliases();
        },
        range: &|a| Some((VirtAddr::new(a), 3)),
    };
    // Where the block needs a new PTE table, so that there is something
    // to fail besides the bookkeeping.
    let block = crate::mm::vmap_block::VMAP_BLOCK_SIZE + PAGE_SIZE;
    let result = every_failure(&case).and_then(|_| in_fresh_pte_table(&case, block, block - PAGE_SIZE));
    for f in &frames {
        free_pages(f.start_address(), 0).expect("the test's own pages");
    }
    result
}

/// The HPET's registers. An ioremap allocates nothing but page tables and
/// bookkeeping, so where the tables exist it may count 0: it is also run
/// where a PTE table has to be made.
fn ioremap_hpet() -> TestResult {
    let case = Case {
        name: "ioremap HPET",
        run: &|| vm(vmalloc::ioremap(0xfed0_0000, 0x400)),
        undo: &|a| vmalloc::iounmap(VirtAddr::new(a)).expect("iounmap of an area just made"),
        range: &|a| Some((VirtAddr::new(a), 1)),
    };
    every_failure(&case)?;
    in_fresh_pte_table(&case, 2 * PAGE_SIZE, 1)
}

fn aspace_create() -> TestResult {
    every_failure(&Case {
        name: "address space",
        run: &|| aspace::create().map(|id| id as u64).map_err(Failure::As),
        undo: &|id| aspace::destroy(id).expect("destroy of a space just made"),
        range: &|_| None,
    })
}

/// Present top-level entries of the master in the vmalloc area.
fn top_level_entries() -> u64 {
    // SAFETY: the live master table, read only.
    let pgd = unsafe { &*phys_to_virt(master_pgd().start_address()).as_ptr::<[u64; 512]>() };
    aspace::VMALLOC_PGD.filter(|&i| pgd[i] != 0).count() as u64
}

/// An ioremap of 8 GiB + 4 MiB of device memory (above RAM) needs 9 or 10
/// PMD tables and 4098 or so PTE tables: more than the earlier tests can
/// have left where it lands, so each failure below is met while building. Failing it part-way must give
/// back every table it made, whatever it made before the failure: the
/// page-table count and the free pages come back exactly, but for the PUD
/// table of a top-level entry the call made (kept on purpose, see
/// pgtable.rs). Before, a failed call kept them all, and an ioremap too
/// big for memory kept every free page as page tables. A call that
/// succeeds keeps its tables, without the marks of the call in progress.
/// The range starts 4 KiB past a 2 MiB boundary: an aligned one would be
/// mapped with 2 MiB leaves and need no PTE table (vmalloc/huge.rs).
fn failed_mapping_gives_back_its_tables() -> TestResult {
    const PHYS: u64 = 0x1000_0000_1000;
    const SIZE: u64 = (8 << 30) + (4 << 20);
    kassert!(pgtable::table_pages() < 2000, "{} page-table pages already", pgtable::table_pages());
    for k in [1, 2, 3, 10, 100, 300, 500] {
        let (tables, free, entries) = (pgtable::table_pages(), free_page_count(), top_level_entries());
        let areas = vmalloc::totals().areas;
        let (result, fired) = run_failing(&|| vmalloc::ioremap(PHYS, SIZE), k);
        kassert!(fired, "allocation {k} was never reached");
        kassert_eq!(result, Err(VmError::NoMemory));
        let kept_pud = top_level_entries() - entries;
        kassert!(
            pgtable::table_pages() == tables + kept_pud,
            "allocation {k} failed: {} page-table pages, {} before ({kept_pud} new top-level entries)",
            pgtable::table_pages(),
            tables
        );
        kassert_eq!(free_page_count() + kept_pud, free);
        kassert_eq!(vmalloc::totals().areas, areas);
        kassert_eq!(vmalloc::audit(), Ok(()));
    }
    // A success keeps its tables and clears the marks.
    let tables = pgtable::table_pages();
    let addr = vmalloc::ioremap(PHYS, SIZE);
    kassert!(addr.is_ok(), "ioremap with nothing injected: {:?}", addr);
    let addr = addr.unwrap_or(VirtAddr::zero());
    kassert!(pgtable::table_pages() > tables + 2000);
    let marked = (0..SIZE / (2 << 20)).any(|i| {
        let walk = pgtable::walk(master_pgd(), addr + i * (2 << 20));
        walk.steps.iter().flatten().any(|s| s.flags.contains(Flags::BIT_9))
    });
    kassert_eq!(vmalloc::iounmap(addr), Ok(()));
    kassert!(!marked, "a table of a successful call is still marked as new");
    Ok(())
}

/// Free pages plus the heap's: everything but page tables.
fn free_page_count() -> u64 {
    crate::mm::pages_accounted() - pgtable::table_pages()
}

/// The switch itself: the n-th allocation fails once, then it is off.
fn switch() -> TestResult {
    let injected = injected_failures();
    fail_nth(Some(2));
    let results = [(); 3].map(|_| alloc_pages(0, ZoneType::Normal));
    let pending = fail_nth_pending();
    fail_nth(None);
    for frame in results.iter().flatten() {
        free_pages(frame.start_address(), 0).expect("a page just allocated");
    }
    kassert!(results[0].is_ok() && results[1].is_err() && results[2].is_ok(), "{:?}", results);
    kassert_eq!((pending, injected_failures() - injected), (None, 1));
    Ok(())
}

// --- an area that needs new page tables ---------------------------------

/// One page at a 512 GiB boundary: each such area has a top-level entry
/// of its own.
fn aligned() -> Result<u64, Failure> {
    vm(vmalloc::__vmalloc_node(PAGE_SIZE, 1 << 39, ZoneType::Normal, false))
}

/// Page tables that mapping `addr` needs and the master lacks: 3 if its
/// top-level entry is empty, 0 if its PTE table exists.
fn missing_tables(addr: u64) -> usize {
    let walk = pgtable::walk(master_pgd(), VirtAddr::new(addr));
    let present = walk.steps[..3].iter().take_while(|s| s.is_some_and(|s| s.flags.contains(Flags::PRESENT))).count();
    3 - present
}

/// The 512 GiB boundaries of the vmalloc area.
fn boundaries() -> impl Iterator<Item = u64> {
    (VMALLOC_START..VMALLOC_END).step_by(1 << 39)
}

/// Where the area allocator puts the next area of `len` bytes (guard page
/// included) aligned to `align`: at the lowest address where it fits.
fn next_fit(align: u64, len: u64) -> Option<u64> {
    let mut cursor = VMALLOC_START;
    let busy = vmalloc::areas().expect("injection is off here").into_iter().map(|a| (a.start, a.start + a.size));
    for (start, end) in busy.chain([(VMALLOC_END, VMALLOC_END)]) {
        let at = cursor.next_multiple_of(align);
        if at + len <= start {
            return Some(at);
        }
        cursor = cursor.max(end);
    }
    None
}

/// Where the next `aligned` area goes.
fn next_boundary() -> Option<u64> {
    next_fit(1 << 39, 2 * PAGE_SIZE)
}

/// Holds `aligned` areas in `blockers` until the next one would land where
/// `want` page tables are missing; returns that address.
fn fresh_boundary(blockers: &mut Vec<u64>, want: usize) -> Result<u64, Failed> {
    loop {
        let next = next_boundary();
        kassert!(next.is_some(), "no 512 GiB boundary left in the vmalloc area");
        let next = next.unwrap_or_default();
        if missing_tables(next) == want {
            return Ok(next);
        }
        let blocker = aligned();
        kassert_eq!(blocker, Ok(next));
        blockers.push(next);
    }
}

/// Page tables stay once made, so each run needs a top-level entry that
/// has never been used: the entries used up are held by blocker areas.
fn vmalloc_new_tables() -> TestResult {
    let mut blockers = Vec::new();
    let result = new_tables(&mut blockers);
    for b in blockers {
        vfree(b);
    }
    result
}

fn new_tables(blockers: &mut Vec<u64>) -> TestResult {
    let want = boundaries().map(missing_tables).max().unwrap_or(0);
    kassert!(want > 0, "every 512 GiB of the vmalloc area has its page tables already");
    let case = Case {
        name: "vmalloc at a 512 GiB boundary",
        run: &aligned,
        undo: &vfree,
        range: &|a| Some((VirtAddr::new(a), 1)),
    };
    let count = fail_in_fresh_tables(&case, &mut || fresh_boundary(blockers, want))?;
    kassert!(count > want as u64, "the call made {count} allocations, fewer than its tables and page");
    Ok(())
}

/// Like `every_failure`, for a call that `place` has just set up to need
/// new page tables: each run, counted or failed, gets a fresh place, since
/// the tables a run makes stay. Returns the count.
fn fail_in_fresh_tables(case: &Case, place: &mut dyn FnMut() -> Result<u64, Failed>) -> Result<u64, Failed> {
    // The first call warms up the bookkeeping, the second is counted.
    let mut count = 0;
    for _ in 0..2 {
        let at = place()?;
        let range;
        (count, range) = self::count(case)?;
        kassert!(range == (case.range)(at), "{}: went to {:?}, not {at:#x}", case.name, range);
    }
    println!("    {} (new page tables): {count} allocations", case.name);
    for k in 1..=count {
        let at = place()?;
        check_failure(case, k, count, (case.range)(at))?;
    }
    Ok(count)
}

/// Fills the lowest holes of the vmalloc area with vmalloc areas, kept in
/// `fillers`, until the next area of `len` bytes (guard page included)
/// goes to a 2 MiB boundary whose PTE table does not exist yet (its PMD
/// table does), at a multiple of `align` (vmap blocks ask for 4 MiB);
/// returns that address. Holes of one page hold nothing.
fn fresh_pte_table(fillers: &mut Vec<u64>, len: u64, align: u64) -> Result<u64, Failed> {
    let span: u64 = (1 << 21u64).max(align);
    loop {
        let hole = next_fit(PAGE_SIZE, 2 * PAGE_SIZE);
        kassert!(hole.is_some(), "the vmalloc area is full");
        let hole = hole.unwrap_or_default();
        let end = vmalloc::areas()
            .expect("injection is off here")
            .iter()
            .map(|a| a.start)
            .find(|&s| s > hole)
            .unwrap_or(VMALLOC_END);
        let fits = |b: u64| missing_tables(b) == 1 && b + len <= end && (b == hole || b - hole >= 2 * PAGE_SIZE);
        let target = (hole.next_multiple_of(span)..end).step_by(span as usize).find(|&b| fits(b));
        if target == Some(hole) {
            return Ok(hole);
        }
        // Up to the target, or the whole hole; either way the filler is
        // the lowest fit, since the holes below hold less than two pages.
        let filler = vm(vmalloc::vmalloc(target.unwrap_or(end) - hole - PAGE_SIZE));
        kassert_eq!(filler, Ok(hole));
        fillers.push(hole);
    }
}

/// `case` placed in new PTE tables by fillers; `len` is its size with the
/// guard page.
fn in_fresh_pte_table(case: &Case, len: u64, align: u64) -> TestResult {
    let mut fillers = Vec::new();
    let result = fail_in_fresh_tables(case, &mut || fresh_pte_table(&mut fillers, len, align));
    for f in fillers {
        vfree(f);
    }
    let count = result?;
    kassert!(count > 0, "{}: no allocation to fail", case.name);
    Ok(())
}

// --- while the bookkeeping grows ---------------------------------------------

/// One-page areas, kept, 200 of them: on the way the area allocator's
/// arenas and the heap's slabs have to grow several times, inside the
/// calls. Counting first would do the growing, so each call is failed at
/// its first allocation, then its second, and so on until it gets through
/// without reaching the failure.
fn vmalloc_beside_many_areas() -> TestResult {
    let mut kept = Vec::with_capacity(200);
    let result = many_areas(&mut kept);
    for a in kept {
        vfree(a);
    }
    result
}

fn many_areas(kept: &mut Vec<u64>) -> TestResult {
    let mut injected = 0;
    for _ in 0..kept.capacity() {
        let at = next_fit(PAGE_SIZE, 2 * PAGE_SIZE);
        kassert!(at.is_some(), "the vmalloc area is full");
        let at = at.unwrap_or_default();
        let range = Some((VirtAddr::new(at), 1));
        for k in 1.. {
            let before = snapshot();
            let (result, fired) = run_failing(&|| vm(vmalloc::vmalloc(PAGE_SIZE)), k);
            if !fired {
                kassert_eq!(result, Ok(at));
                kept.push(at);
                break;
            }
            injected += 1;
            kassert!(
                result == Err(Failure::Vm(VmError::NoMemory)),
                "area {}, allocation {k}: {:?}",
                kept.len(),
                result
            );
            let after = snapshot();
            kassert!(after == before, "area {}, allocation {k}: {:?} after, {:?} before", kept.len(), after, before);
            kassert_eq!(vmalloc::check(), Ok(()));
            kassert_eq!(mapped_pages(range), 0);
        }
    }
    println!("    vmalloc beside many areas: {injected} failures injected in {} calls", kept.len());
    Ok(())
}

// --- pgd_sync prealloc ------------------------------------------------------

fn master_has(index: usize) -> bool {
    // SAFETY: reading the live master PGD through the direct map.
    let pgd = unsafe { &*phys_to_virt(master_pgd().start_address()).as_ptr::<[u64; 512]>() };
    pgd[index] != 0
}

/// Top-level entries of the vmalloc area the master still lacks: the
/// allocations a preallocation makes.
fn missing_entries() -> u64 {
    aspace::VMALLOC_PGD.filter(|&i| !master_has(i)).count() as u64
}

/// Under eager, address space `id` has every vmalloc entry the master has.
fn in_step(id: usize) -> bool {
    let master = aspace::VMALLOC_PGD.filter(|&i| master_has(i)).count();
    aspace::info(id).is_some_and(|info| info.vmalloc_entries == master)
}

fn prealloc() -> Result<u64, Failure> {
    let fill = || vmalloc::prealloc_top_level().map_err(|_| AsError::NoMemory);
    aspace::set_strategy(Strategy::Prealloc, fill).map(|_| 0).map_err(Failure::As)
}

/// `pgd_sync prealloc`, switching from eager with an address space to keep
/// in step. A failed preallocation keeps the tables it made (they cannot
/// be given back while other PGDs may point to them), so each run leaves
/// less to do: the points are failed in turn while there is work left,
/// then the last one, then the call succeeds. Ends in `lazy`.
fn pgd_sync_prealloc() -> TestResult {
    aspace::set_strategy(Strategy::Eager, || Ok(0)).expect("eager needs nothing");
    let id = aspace::create();
    kassert!(id.is_ok());
    let id = id.unwrap_or_default();
    let result = prealloc_failures(id);
    aspace::set_strategy(Strategy::Lazy, || Ok(0)).expect("lazy needs nothing");
    aspace::destroy(id as u64).expect("the test's own space");
    result
}

fn prealloc_failures(id: usize) -> TestResult {
    println!("    pgd_sync prealloc: {} allocations", missing_entries());
    let mut k = 1;
    while k <= missing_entries() {
        prealloc_failure(id, k)?;
        k += 1;
    }
    if missing_entries() > 1 {
        prealloc_failure(id, missing_entries())?;
    }
    let (expected, calls) = (missing_entries(), alloc_calls());
    let result = prealloc();
    kassert_eq!(result, Ok(0));
    kassert_eq!(alloc_calls() - calls, expected);
    kassert_eq!((aspace::strategy(), missing_entries()), (Strategy::Prealloc, 0));
    kassert!(in_step(id), "address space {id} lacks preallocated entries");
    Ok(())
}

fn prealloc_failure(id: usize, k: u64) -> TestResult {
    let (before, left) = (snapshot(), missing_entries());
    let (result, fired) = run_failing(&prealloc, k);
    kassert!(fired && result == Err(Failure::As(AsError::NoMemory)), "allocation {k} of {left}: {:?}", result);
    kassert_eq!(aspace::strategy(), Strategy::Eager);
    kassert_eq!(snapshot(), before);
    kassert_eq!(missing_entries(), left - (k - 1));
    kassert!(in_step(id), "allocation {k} of {left} failed, and address space {id} missed the entries made before it");
    Ok(())
}
