//! Lab 5, the lazy purge: its graded tests and shell scenarios.

use super::{host, kernel, offset, peek_is, poke, pt, shell, vfree, vmalloc, vmallocinfo, vmstat, Graded, Rng, PAGE};
use crate::session::Session;
use anyhow::{ensure, Result};

/// The graded tests of lab 5, in the order they are reported: by the
/// step of the handout that unlocks them.
pub(super) fn tests() -> Vec<Graded> {
    vec![
        // Step 1: PurgeList::push and due (15 points).
        host("mm::vmap_purge::tests::push_keeps_every_range_and_counts_its_pages", 8),
        host("mm::vmap_purge::tests::a_purge_is_due_only_past_the_limit", 7),
        // Step 2: PurgeList::purge (20 points).
        host("mm::vmap_purge::tests::one_flush_covers_the_span_and_the_ranges_go_back", 10),
        host("mm::vmap_purge::tests::the_flush_spans_ranges_freed_in_any_order", 10),
        // Step 3: PurgeList::make_room, and the three together against a
        // model (15 points).
        host("mm::vmap_purge::tests::make_room_purges_only_when_the_request_cannot_fit", 7),
        host("mm::vmap_purge::tests::the_tree_never_hands_out_a_lazy_range_before_its_purge", 4),
        host("mm::vmap_purge::tests::nor_does_the_list", 4),
        // Step 4: free_noflush, the lazy vfree in the kernel (50 points).
        kernel("lazy_purge::freed_range_not_reused_before_a_purge", 7, ""),
        kernel("lazy_purge::purge_drops_stale_translations", 7, ""),
        kernel("lazy_purge::pages_come_back_at_the_free", 3, ""),
        kernel("lazy_purge::fewer_flushes_than_eager", 5, ""),
        kernel("lazy_purge::limit_and_vm_unmap_aliases_purge", 4, ""),
        kernel("lazy_purge::vunmap_and_iounmap_are_lazy_too", 3, ""),
        kernel("lazy_purge::a_list_that_cannot_grow_frees_eagerly", 3, ""),
        shell("lab5::a_lazy_free_waits_for_the_purge", 10, waits_for_the_purge, ""),
        shell("lab5::the_limit_starts_the_purge", 8, the_limit_starts_the_purge, ""),
    ]
}

/// `vfree lazy <max>` from eager, with nothing waiting.
fn go_lazy(s: &mut Session, max: u64) -> Result<()> {
    s.command_expect(
        &format!("vfree lazy {max}"),
        &format!(r"^vfree: lazy \(lazy_max_pages {max}, 0 pages in 0 areas waiting for the purge\)$"),
    )
    .map(drop)
}

/// `vfree <addr>` in lazy mode.
fn vfree_lazily(s: &mut Session, addr: u64, pages: u64) -> Result<()> {
    s.command_expect(
        &format!("vfree {addr:#x}"),
        &format!(
            r"^freed {addr:#x} \({pages} pages mapped, plus 1 guard page\); lazily: the TLB flush and the range wait"
        ),
    )
    .map(drop)
}

/// A random set of areas, some freed lazily: they show as `unpurged` in
/// vmallocinfo with their PTEs clear, count in vmap_lazy_nr, and are not
/// handed out again; `purge` gives them all back after one flush over
/// their span, after which they fault and the lowest one is reused.
fn waits_for_the_purge(s: &mut Session, rng: &mut Rng) -> Result<()> {
    go_lazy(s, 1 << 16)?;
    let mut areas = Vec::new();
    for _ in 0..rng.range(3, 7) {
        let (addr, pages) = vmalloc(s, rng.range(1, 24) * PAGE)?;
        let spot = (addr + rng.range(0, pages - 1) * PAGE + offset(rng), rng.pattern());
        poke(s, spot.0, spot.1)?;
        areas.push((addr, pages, spot));
    }
    rng.shuffle(&mut areas);
    let freed: Vec<(u64, u64, (u64, u64))> = areas.split_off(rng.range(1, areas.len() as u64 - 1) as usize);
    for &(addr, pages, _) in &freed {
        vfree_lazily(s, addr, pages)?;
    }
    let info = vmallocinfo(s)?;
    for &(addr, pages, (spot, _)) in &freed {
        let shown = info.iter().find(|(a, ..)| *a == addr);
        ensure!(
            shown.is_some_and(|(_, size, rest)| *size == (pages + 1) * PAGE && rest == "unpurged vm_area"),
            "vmallocinfo: expected {addr:#x} ({} bytes) as `unpurged vm_area` after a lazy vfree, got {shown:?}",
            (pages + 1) * PAGE
        );
        let (flags, phys) = pt(s, spot)?;
        ensure!(phys.is_none(), "`pt {spot:#x}` after a lazy vfree: the PTE still maps a page ({flags:?})");
    }
    let lazy_pages: u64 = freed.iter().map(|f| f.1).sum();
    let (nr, unpurged) = (vmstat(s, "vmap_lazy_nr")?, vmstat(s, "vmap_unpurged_areas")?);
    ensure!(
        (nr, unpurged) == (lazy_pages, freed.len() as u64),
        "vmstat: expected vmap_lazy_nr {lazy_pages} and vmap_unpurged_areas {}, got {nr} and {unpurged}",
        freed.len()
    );
    // A new area of the lowest freed one's size must not land on any.
    let lowest = *freed.iter().min_by_key(|f| f.0).expect("one freed at least");
    let (new, new_pages) = vmalloc(s, lowest.1 * PAGE)?;
    let clash = freed.iter().find(|f| new < f.0 + (f.1 + 1) * PAGE && f.0 < new + (new_pages + 1) * PAGE);
    ensure!(clash.is_none(), "vmalloc gave {new:#x}, inside the unpurged range at {:#x}", clash.map_or(0, |c| c.0));
    let high = freed.iter().map(|f| f.0 + f.1 * PAGE).max().unwrap_or(0);
    let span = (high - lowest.0) / PAGE;
    s.command_expect(
        "purge",
        &format!(
            r"^purge: {} areas \({lazy_pages} pages\) given back after one TLB flush of {span} pages from {:#x}$",
            freed.len(),
            lowest.0
        ),
    )?;
    for &(_, _, (spot, _)) in &freed {
        s.command_expect(&format!("peek {spot:#x}"), "^error: ")?;
    }
    let left = vmallocinfo(s)?;
    ensure!(!left.iter().any(|l| l.2.starts_with("unpurged")), "unpurged areas after `purge`: {left:?}");
    for &(_, _, (at, value)) in &areas {
        peek_is(s, at, value, "a live area's pattern, after the purge of its neighbours")?;
    }
    let (again, pages) = vmalloc(s, lowest.1 * PAGE)?;
    ensure!(
        again == lowest.0,
        "after the purge, vmalloc of {pages} pages gave {again:#x}, not the lowest fit {:#x}",
        lowest.0
    );
    s.command_expect("vfree eager", r"^vfree: eager ")?;
    for (addr, pages) in areas.iter().map(|a| (a.0, a.1)).chain([(new, new_pages), (again, pages)]) {
        vfree(s, addr, pages)?;
    }
    Ok(())
}

/// With a random `lazy_max_pages`, frees of random sizes purge exactly
/// when the lazily freed pages pass it, and flush only then.
fn the_limit_starts_the_purge(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let max = rng.range(6, 30);
    go_lazy(s, max)?;
    let (purges0, flushes0) = (vmstat(s, "vmap_purges")?, vmstat(s, "vmap_tlb_flushes")?);
    let (mut waiting, mut purges, mut frees) = (0, 0, 0);
    while purges < 2 {
        ensure!(frees < 200, "200 lazy frees and still fewer than 2 purges with lazy_max_pages {max}");
        let (addr, pages) = vmalloc(s, rng.range(1, 6) * PAGE)?;
        vfree_lazily(s, addr, pages)?;
        frees += 1;
        waiting += pages;
        if waiting > max {
            (waiting, purges) = (0, purges + 1);
        }
        let (nr, done) = (vmstat(s, "vmap_lazy_nr")?, vmstat(s, "vmap_purges")? - purges0);
        ensure!(
            (nr, done) == (waiting, purges),
            "after lazy free {frees} (limit {max}): expected vmap_lazy_nr {waiting} and {purges} purges, got {nr} and {done}"
        );
    }
    let flushes = vmstat(s, "vmap_tlb_flushes")? - flushes0;
    ensure!(
        flushes == purges,
        "{frees} lazy frees and {purges} purges took {flushes} TLB flushes: one per purge expected"
    );
    Ok(())
}
