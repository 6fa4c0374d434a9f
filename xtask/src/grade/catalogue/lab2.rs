//! Lab 2, vmalloc with the list allocator: its graded tests and shell
//! scenarios.

use super::{
    expect_error, host, kernel, meminfo, offset, shell, test_vmalloc, vfree, vmalloc, vmallocinfo, write_and_verify,
    Graded, Rng, LIST, PAGE, VMALLOC_START,
};
use crate::session::Session;
use anyhow::{ensure, Result};

/// The graded tests of lab 2, in the order they are reported: by the
/// step of the handout that unlocks them (first fit; get_vm_area; the walk
/// with `__vmalloc_area_node`; vunmap_range, __vunmap and vfree), so that
/// each function earns points once it is right, before the next is
/// written. The handout's points table says the same.
pub(super) fn tests() -> Vec<Graded> {
    vec![
        // Step 1: first fit, on the host.
        host("mm::vmap_area::tests::first_alloc_is_at_span_start", 4),
        host("mm::vmap_area::tests::freed_hole_is_reused_lowest_first", 4),
        host("mm::vmap_area::tests::alignment_is_honoured", 4),
        host("mm::vmap_area::tests::tight_aligned_fit_is_found", 4),
        host("mm::vmap_area::tests::huge_requests_give_no_space_without_overflow", 4),
        host("mm::vmap_area::tests::list_tree_and_model_agree", 4),
        // Step 2: get_vm_area alone (nothing mapped, no vfree).
        kernel("vmalloc::get_vm_area_reserves_a_range", 6, LIST),
        // Step 3: the walk and __vmalloc_area_node, without vfree.
        shell("lab2::vmalloc_holds_random_patterns", 10, vmalloc_holds_patterns, LIST),
        // Step 4: vunmap_range's flush, __vunmap and vfree; the rest of
        // vmalloc's lessons, which every test needs vfree to clean up.
        kernel("vmalloc::sizes_hold_their_patterns", 4, LIST),
        kernel("vmalloc::guard_page_is_unmapped", 4, LIST),
        kernel("vmalloc::mapping_over_a_used_pte_is_refused", 4, LIST),
        kernel("vmalloc::bad_frees_are_refused", 4, LIST),
        kernel("vmalloc::zones_of_32_and_dma_variants", 4, LIST),
        // Rollback in __vmalloc_area_node: pages that cannot be had, a
        // failed mapping, each allocation failed in turn.
        kernel("vmalloc::oom_rolls_back", 4, LIST),
        kernel("inject::vmalloc_5_pages", 4, LIST),
        Graded { timeout: 180, ..kernel("inject::vmalloc_with_new_page_tables", 4, LIST) },
        // The TLB flush: touched pages must fault after vfree.
        kernel("vmalloc::vfree_drops_stale_translations", 4, LIST),
        // get_vm_area must pass the caller's alignment on; the walk must
        // stop at a page table it could not allocate, and announce every
        // new top-level entry (`on_new_master_entry`).
        kernel("test_vmalloc::align_shift_alloc_test_fails_as_expected", 4, LIST),
        kernel("vmalloc::failed_page_table_is_an_error", 4, LIST),
        kernel("aspace::eager_copies_new_entries_at_once", 4, LIST),
        Graded { timeout: 180, ..shell("lab2::test_vmalloc_sizes_and_alignments", 4, test_vmalloc_sizes, LIST) },
        shell("lab2::first_fit_takes_the_lowest_hole", 4, first_fit_lowest_hole, LIST),
        shell("lab2::vfree_gives_every_page_back", 4, vfree_gives_pages_back, LIST),
    ]
}

/// The walk alone (no vfree, so it earns its points before vfree is
/// written): a random size; random patterns on random pages read back;
/// the PTEs say present, writable, global, not executable; distinct
/// frames; the guard page unmapped.
fn vmalloc_holds_patterns(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let (addr, pages) = vmalloc(s, rng.range(1, 600_000))?;
    let mut chosen = vec![0, pages - 1];
    chosen.extend((0..6).map(|_| rng.range(0, pages - 1)));
    chosen.sort();
    chosen.dedup();
    let spots: Vec<(u64, u64)> = chosen.iter().map(|&p| (addr + p * PAGE + offset(rng), rng.pattern())).collect();
    let frames = write_and_verify(s, &spots, &["P", "W", "G", "NX"], &["U"])?;
    ensure!(frames == spots.len(), "two pages of the area share a frame: {frames} frames for {} pages", spots.len());
    let guard = addr + pages * PAGE;
    expect_error(s, &format!("peek {guard:#x}"), "guard page").map(drop)
}

/// Areas of random sizes go one after the other (each with its guard
/// page); a freed area's hole is reused by the next request that fits, a
/// bigger one goes past the last area.
fn first_fit_lowest_hole(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let mut areas = Vec::new();
    let mut cursor = VMALLOC_START;
    for i in 0..rng.range(3, 6) {
        let pages = rng.range(1, 12);
        let bytes = pages * PAGE - rng.range(0, PAGE - 1);
        let (addr, _) = vmalloc(s, bytes)?;
        ensure!(
            addr == cursor,
            "vmalloc #{i} of {bytes} bytes: expected the lowest free address {cursor:#x} (first fit, after \
             {i} areas and their guard pages), got {addr:#x}"
        );
        areas.push((addr, pages));
        cursor += (pages + 1) * PAGE;
    }
    let info = vmallocinfo(s)?;
    let want: Vec<(u64, u64)> = areas.iter().map(|&(a, p)| (a, (p + 1) * PAGE)).collect();
    let got: Vec<(u64, u64)> = info.iter().map(|(a, size, _)| (*a, *size)).collect();
    ensure!(got == want, "vmallocinfo (start, size with guard): expected {want:x?}, got {got:x?}");
    let j = rng.range(1, areas.len() as u64 - 2) as usize;
    let (hole, hole_pages) = areas[j];
    // Bigger than every area so far, so bigger than what the refill below
    // leaves of the hole too.
    let big = areas.iter().map(|a| a.1).max().unwrap_or(1) + rng.range(1, 4);
    vfree(s, hole, hole_pages)?;
    let refill = rng.range(1, hole_pages);
    let (addr, _) = vmalloc(s, refill * PAGE)?;
    ensure!(addr == hole, "vmalloc of {refill} pages after freeing the {hole_pages}-page area at {hole:#x}: expected that hole, the lowest that fits; got {addr:#x}");
    areas[j] = (addr, refill);
    let (addr, _) = vmalloc(s, big * PAGE)?;
    ensure!(
        addr == cursor,
        "vmalloc of {big} pages fits no hole: expected it after the last area, at {cursor:#x}; got {addr:#x}"
    );
    areas.push((addr, big));
    rng.shuffle(&mut areas);
    for (a, p) in areas {
        vfree(s, a, p)?;
    }
    let (addr, pages) = vmalloc(s, PAGE)?;
    ensure!(
        addr == VMALLOC_START,
        "with every area freed, vmalloc should start again at {VMALLOC_START:#x}, got {addr:#x}"
    );
    vfree(s, addr, pages)
}

/// VmallocUsed follows the areas; bad vfrees are refused; a freed area
/// reads as freed and is gone from vmallocinfo; a second
/// vmalloc/vfree of the same size leaves MemFree exactly where the first
/// left it (page tables stay, every data page comes back).
fn vfree_gives_pages_back(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let bytes = rng.range(2 * PAGE, 200 * PAGE);
    let (addr, pages) = vmalloc(s, bytes)?;
    let used = meminfo(s, "VmallocUsed")?;
    ensure!(used == pages * 4, "VmallocUsed after vmalloc of {pages} pages: expected {} kB, got {used} kB", pages * 4);
    expect_error(s, &format!("vfree {:#x}", addr + PAGE * rng.range(1, pages - 1)), "not its start")?;
    expect_error(
        s,
        &format!("vfree {:#x}", addr + (pages + 1 + rng.range(1, 1000)) * PAGE),
        "not in any vmalloc area",
    )?;
    vfree(s, addr, pages)?;
    expect_error(s, &format!("peek {:#x}", addr + rng.range(0, pages - 1) * PAGE), "freed")?;
    let left = vmallocinfo(s)?;
    ensure!(left.is_empty(), "vmallocinfo after vfree: expected nothing, got {left:?}");
    ensure!(meminfo(s, "VmallocUsed")? == 0, "VmallocUsed after vfree is not 0");
    expect_error(s, &format!("vfree {addr:#x}"), "not in any vmalloc area")?;
    let free_after_first = meminfo(s, "MemFree")?;
    let (addr, pages) = vmalloc(s, bytes)?;
    vfree(s, addr, pages)?;
    let free_after_second = meminfo(s, "MemFree")?;
    ensure!(
        free_after_second == free_after_first,
        "MemFree after a second vmalloc/vfree of {bytes} bytes: expected {free_after_first} kB as after the \
         first (every page returned), got {free_after_second} kB"
    );
    Ok(())
}

/// Linux's random-size and aligned test cases, a random number of loops.
fn test_vmalloc_sizes(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let cases = ["random_size_alloc_test", "fix_align_alloc_test", "random_size_align_alloc_test"];
    test_vmalloc(s, "run_test_mask=0x38", &cases, rng.range(50, 200)).map(drop)
}
