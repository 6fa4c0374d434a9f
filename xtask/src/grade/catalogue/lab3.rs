//! Lab 3, the lazy vmalloc fault: its graded tests and shell scenarios.

use super::{
    expect_error, kernel, offset, peek_is, poke, shell, vfree, vmalloc, vmstat, Graded, Rng, PAGE, VMALLOC_START,
};
use crate::session::Session;
use anyhow::{ensure, Context, Result};

/// The graded tests of lab 3, in the order they are reported: by the
/// step of the handout that unlocks them.
pub(super) fn tests() -> Vec<Graded> {
    vec![
        // Step 1: sync_from_master alone, called directly (no fault).
        kernel("aspace::sync_alone_copies_a_missing_entry", 15, ""),
        // Step 2: vmalloc_fault, which calls it from the fault handler.
        kernel("aspace::lazy_faults_once_per_top_level_entry", 25, ""),
        kernel("aspace::vfree_is_seen_from_every_space", 20, ""),
        shell("lab3::a_fault_copies_the_entry_once_per_space", 25, lazy_fault_once_per_space, ""),
        shell("lab3::real_faults_stay_errors", 15, real_faults_stay_errors, ""),
    ]
}

fn switch(s: &mut Session, id: u64) -> Result<()> {
    s.command_expect(&format!("as switch {id}"), &format!("^switched to address space {id}$")).map(drop)
}

/// (vmalloc-entries, faults) of address space `id` in `as list`.
fn as_row(s: &mut Session, id: u64) -> Result<(u64, u64)> {
    let lines = s.command("as list")?;
    let row = lines
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.first() == Some(&id.to_string().as_str()))
        .with_context(|| format!("no address space {id} in `as list`: {lines:?}"))?;
    Ok((row.get(2).context("entries")?.parse()?, row.get(3).context("faults")?.parse()?))
}

/// Patterns written from the master are read from new address spaces:
/// the first access in each takes exactly one vmalloc fault, later ones
/// none (one top-level entry covers the area, and the tables below it are
/// shared, which writes from a space prove too).
fn lazy_fault_once_per_space(s: &mut Session, rng: &mut Rng) -> Result<()> {
    s.command_expect("pgd_sync", "^pgd_sync: lazy$")?;
    let (addr, pages) = vmalloc(s, rng.range(2, 40) * PAGE)?;
    let mut spots: Vec<(u64, u64)> =
        (0..rng.range(2, 4)).map(|_| (addr + rng.range(0, pages - 1) * PAGE + offset(rng), rng.pattern())).collect();
    spots.sort();
    spots.dedup_by_key(|x| x.0);
    for &(at, value) in &spots {
        poke(s, at, value)?;
    }
    let spaces = rng.range(2, 3);
    for id in 1..=spaces {
        s.command_expect("as new", &format!(r"^address space {id} \(PGD at 0x[0-9a-f]+, 0 vmalloc entries\)$"))?;
    }
    let base = vmstat(s, "vmalloc_faults")?;
    let mut written = Vec::new();
    for id in 1..=spaces {
        switch(s, id)?;
        let (first, value) = spots[0];
        peek_is(s, first, value, &format!("written from the master, read from address space {id}"))?;
        let faults = vmstat(s, "vmalloc_faults")?;
        ensure!(
            faults == base + id,
            "after the first access from address space {id}: expected {} vmalloc faults in all, got {faults}",
            base + id
        );
        for &(at, value) in &spots[1..] {
            peek_is(s, at, value, &format!("read from address space {id}"))?;
        }
        let own = (addr + rng.range(0, pages - 1) * PAGE + offset(rng), rng.pattern());
        poke(s, own.0, own.1)?;
        written.push(own);
        let faults = vmstat(s, "vmalloc_faults")?;
        ensure!(faults == base + id, "more accesses from address space {id} took more faults ({faults} in all, expected {}): the copied entry covers the whole area", base + id);
        let (entries, own_faults) = as_row(s, id)?;
        ensure!(
            (entries, own_faults) == (1, 1),
            "`as list` for address space {id}: expected 1 vmalloc entry and 1 fault, got {entries} and {own_faults}"
        );
    }
    switch(s, 0)?;
    for (at, value) in written {
        peek_is(s, at, value, "written from another address space, read from the master (shared tables)")?;
    }
    vfree(s, addr, pages)
}

/// A fault that a copy cannot fix must still be reported, never retried
/// forever: the guard page, an unused part of a copied entry, an entry
/// the master lacks too, and a freed area. None counts as a vmalloc fault.
fn real_faults_stay_errors(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let (addr, pages) = vmalloc(s, rng.range(1, 30) * PAGE)?;
    let value = rng.pattern();
    poke(s, addr, value)?;
    s.command_expect("as new", r"^address space 1 ")?;
    switch(s, 1)?;
    peek_is(s, addr, value, "from a new address space, after a vmalloc fault")?;
    let faults = vmstat(s, "vmalloc_faults")?;
    expect_error(s, &format!("peek {:#x}", addr + pages * PAGE), "guard page")?;
    expect_error(s, &format!("peek {:#x}", addr + (pages + 1 + rng.range(1, 500)) * PAGE), "never allocated")?;
    let far = VMALLOC_START + (rng.range(8, 60) << 39) + rng.range(0, 1000) * PAGE;
    expect_error(s, &format!("peek {far:#x}"), "never allocated")?;
    let after = vmstat(s, "vmalloc_faults")?;
    ensure!(after == faults, "real faults were counted as vmalloc faults ({faults} before, {after} after)");
    switch(s, 0)?;
    vfree(s, addr, pages)?;
    switch(s, 1)?;
    expect_error(s, &format!("peek {addr:#x}"), "freed")?;
    Ok(())
}
