//! Lab 1, the buddy allocator: its graded tests and shell scenarios.

use super::{dma_free, expect_error, first_addr, host, kernel, shell, Graded, Rng, PAGE};
use crate::session::Session;
use anyhow::{bail, ensure, Result};

/// The graded tests of lab 1, in the order they are reported.
pub(super) fn tests() -> Vec<Graded> {
    vec![
        host("mm::page_alloc::tests::boot_memory_becomes_the_largest_aligned_blocks", 10),
        host("mm::page_alloc::tests::allocation_splits_and_free_merges_back", 15),
        host("mm::page_alloc::tests::requests_fall_back_to_lower_zones_only", 5),
        host("mm::page_alloc::tests::bad_frees_are_reported_and_change_nothing", 5),
        host("mm::page_alloc::tests::exhausting_a_zone_and_freeing_everything_restores_it_exactly", 10),
        host("mm::page_alloc::tests::random_workloads_match_the_model", 15),
        kernel("buddy::mem_map_is_consistent", 5, ""),
        kernel("buddy::blocks_are_aligned_and_in_zone", 5, ""),
        kernel("buddy::exhaust_dma_and_restore", 5, ""),
        kernel("heap::random_vec_box_workload", 5, ""),
        shell("lab1::split_then_merge_back", 10, split_then_merge_back, ""),
        shell("lab1::blocks_are_disjoint_and_exhaustion_is_an_error", 10, blocks_disjoint_and_exhaustion, ""),
    ]
}

/// Allocates random orders from DMA (nothing else uses that zone, so its
/// free lists change only through us) and checks that each allocation
/// split exactly the smallest block big enough; then frees everything in a
/// random order and requires the initial free lists: every buddy merged.
fn split_then_merge_back(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let initial = dma_free(s)?;
    let mut held = Vec::new();
    for _ in 0..rng.range(4, 8) {
        let before = dma_free(s)?;
        let order = rng.range(0, 6) as usize;
        let Some(found) = (order..before.len()).find(|&o| before[o] > 0) else { continue };
        let line = s.command_expect(
            &format!("alloc_pages {order} dma"),
            &format!(r"^0x[0-9a-f]+ \(order {order}: {} pages, [^,]+, zone DMA\)$", 1u64 << order),
        )?;
        let addr = first_addr(&line)?;
        let bytes = PAGE << order;
        ensure!(
            addr % bytes == 0,
            "`alloc_pages {order} dma` gave {addr:#x}, which is not aligned to its size ({bytes:#x})"
        );
        ensure!(addr + bytes <= 16 << 20, "`alloc_pages {order} dma` gave {addr:#x}, outside the DMA zone");
        let mut expected = before.clone();
        expected[found] -= 1;
        for count in &mut expected[order..found] {
            *count += 1;
        }
        let after = dma_free(s)?;
        ensure!(
            after == expected,
            "`alloc_pages {order} dma` with the smallest free block of order {found}: expected the DMA free \
             counts per order to go from {before:?} to {expected:?} (one block of each order {order}..{found} \
             left over from the split), got {after:?}"
        );
        held.push((addr, order));
    }
    rng.shuffle(&mut held);
    for &(addr, order) in &held {
        s.command_expect(&format!("free_pages {addr:#x} {order}"), &format!(r"^freed {addr:#x} \(order {order}: "))?;
    }
    let end = dma_free(s)?;
    ensure!(
        end == initial,
        "after freeing all {} blocks (in a random order), expected the DMA free counts to be back to \
         {initial:?} (every block merged with its buddy), got {end:?}",
        held.len()
    );
    Ok(())
}

/// Random blocks must be aligned and disjoint; the allocator's records
/// must catch a double free and a wrong order; taking every 4 MiB block
/// must end in an out-of-memory error, not a crash; and everything freed
/// restores the zone.
fn blocks_disjoint_and_exhaustion(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let initial = dma_free(s)?;
    let mut held: Vec<(u64, usize)> = Vec::new();
    for _ in 0..rng.range(6, 14) {
        let order = rng.range(0, 4) as usize;
        let addr = first_addr(&s.command_expect(&format!("alloc_pages {order} dma"), r"^0x[0-9a-f]+ \(order ")?)?;
        let end = addr + (PAGE << order);
        ensure!(addr % (PAGE << order) == 0, "order-{order} block at {addr:#x} is not aligned to its size");
        if let Some(&(other, o)) = held.iter().find(|&&(b, o)| addr < b + (PAGE << o) && b < end) {
            bail!("order-{order} block {addr:#x}-{end:#x} overlaps the order-{o} block at {other:#x}, still allocated");
        }
        held.push((addr, order));
    }
    // The frees are checked against the records alloc left in mem_map.
    let (victim, order) = held.swap_remove(rng.range(0, held.len() as u64 - 1) as usize);
    if order > 0 {
        expect_error(s, &format!("free_pages {victim:#x} {}", order - 1), &format!("allocated with order {order}"))?;
    }
    s.command_expect(&format!("free_pages {victim:#x} {order}"), "^freed ")?;
    expect_error(s, &format!("free_pages {victim:#x} {order}"), "already free")?;
    // Exhaust the largest blocks.
    let mut big = Vec::new();
    loop {
        let lines = s.command("alloc_pages 10 dma")?;
        match lines.as_slice() {
            [l] if l.starts_with("error:") => {
                ensure!(l.contains("out of memory"), "an empty order-10 list should give 'out of memory', got {l:?}");
                break;
            }
            [l] => big.push(first_addr(l)?),
            _ => bail!("`alloc_pages 10 dma`: expected one line, got {lines:?}"),
        }
        ensure!(big.len() <= 4, "the 16 MiB DMA zone handed out more than four 4 MiB blocks: {big:x?}");
    }
    held.extend(big.iter().map(|&b| (b, 10)));
    rng.shuffle(&mut held);
    for (addr, order) in held {
        s.command_expect(&format!("free_pages {addr:#x} {order}"), "^freed ")?;
    }
    let end = dma_free(s)?;
    ensure!(end == initial, "after freeing everything, expected DMA free counts {initial:?}, got {end:?}");
    Ok(())
}
