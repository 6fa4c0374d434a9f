//! What each lab's grade is made of: the tests, their points, and the shell
//! scenarios written for grading.
//!
//! Every lab is out of 100. A scenario draws its sizes, counts, orders and
//! patterns from `Rng`, so each run asks for different values; it bails
//! with what it expected and what it got. docs/instructors.md lists what
//! each test checks; keep the two in step.
//!
//! Lab 2 and part A of lab 4 boot with `vmalloc=list`: lab 2 is about the
//! list allocator, and lab 4's skeleton has the tree (its challenge part)
//! stubbed out, so its other tests must not depend on it.

use super::{Check, Graded, Rng};
use crate::session::Session;
use anyhow::{bail, ensure, Context, Result};
use regex::Regex;

const LIST: &str = "vmalloc=list";
const VMALLOC_START: u64 = 0xffff_c900_0000_0000;
const PAGE: u64 = 4096;
const HPET: u64 = 0xfed0_0000;

const fn host(name: &'static str, points: u32) -> Graded {
    Graded { name, points, check: Check::Host(name), timeout: 180 }
}

const fn kernel(test: &'static str, points: u32, cmdline: &'static str) -> Graded {
    Graded { name: test, points, check: Check::Kernel { test, cmdline }, timeout: 90 }
}

const fn shell(name: &'static str, points: u32, run: super::Scenario, cmdline: &'static str) -> Graded {
    Graded { name, points, check: Check::Shell { run, cmdline }, timeout: 90 }
}

/// The graded tests of lab `id`, in the order they are reported.
pub fn tests(id: u32) -> Vec<Graded> {
    match id {
        1 => vec![
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
        ],
        2 => vec![
            host("mm::vmap_area::tests::first_alloc_is_at_span_start", 5),
            host("mm::vmap_area::tests::freed_hole_is_reused_lowest_first", 5),
            host("mm::vmap_area::tests::alignment_is_honoured", 5),
            host("mm::vmap_area::tests::tight_aligned_fit_is_found", 5),
            host("mm::vmap_area::tests::huge_requests_give_no_space_without_overflow", 5),
            host("mm::vmap_area::tests::list_tree_and_model_agree", 10),
            kernel("vmalloc::sizes_hold_their_patterns", 10, LIST),
            kernel("vmalloc::guard_page_is_unmapped", 5, LIST),
            kernel("vmalloc::bad_frees_are_refused", 5, LIST),
            kernel("vmalloc::zones_of_32_and_dma_variants", 5, LIST),
            kernel("vmalloc::oom_rolls_back", 5, LIST),
            Graded { timeout: 180, ..shell("lab2::test_vmalloc_sizes_and_alignments", 10, test_vmalloc_sizes, LIST) },
            shell("lab2::vmalloc_holds_random_patterns", 10, vmalloc_holds_patterns, LIST),
            shell("lab2::first_fit_takes_the_lowest_hole", 10, first_fit_lowest_hole, LIST),
            shell("lab2::vfree_gives_every_page_back", 5, vfree_gives_pages_back, LIST),
        ],
        3 => vec![
            kernel("aspace::lazy_faults_once_per_top_level_entry", 30, ""),
            kernel("aspace::vfree_is_seen_from_every_space", 20, ""),
            shell("lab3::a_fault_copies_the_entry_once_per_space", 35, lazy_fault_once_per_space, ""),
            shell("lab3::real_faults_stay_errors", 15, real_faults_stay_errors, ""),
        ],
        4 => vec![
            // Part A: vmap and ioremap (70 points).
            kernel("vmalloc::vmap_shows_the_callers_pages", 10, LIST),
            kernel("vmalloc::ioremap_reads_the_hpet", 10, LIST),
            kernel("vmalloc::ioremap_rejects_bad_ranges", 5, LIST),
            shell("lab4::test_vmalloc_vm_map_ram", 5, test_vmalloc_vm_map_ram, LIST),
            shell("lab4::vmap_maps_the_callers_pages", 15, vmap_maps_pages, LIST),
            shell("lab4::ioremap_reaches_the_hpet", 15, ioremap_reaches_hpet, LIST),
            shell("lab4::mixed_areas_stay_apart", 10, mixed_areas, LIST),
            // Part B, the challenge: the O(log n) tree (30 points).
            host("mm::vmap_area::tests::tree_search_trusts_subtree_max_size", 5),
            host("mm::vmap_area::tests::tree_merges_neighbours", 5),
            host("mm::vmap_area::tests::tree_scales_to_many_areas", 5),
            Graded { timeout: 240, ..shell("lab4::long_busy_list_on_the_tree", 15, long_busy_list, "") },
        ],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Reading the shell's answers
// ---------------------------------------------------------------------------

fn hex(s: &str) -> Result<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).with_context(|| format!("'{s}' is not a hex number"))
}

/// The address a command's answer starts with.
fn first_addr(line: &str) -> Result<u64> {
    hex(line.split_whitespace().next().unwrap_or(""))
}

/// Runs `line` and requires one `error: ` line mentioning `what`.
fn expect_error(s: &mut Session, line: &str, what: &str) -> Result<String> {
    s.command_expect(line, &format!("^error: .*{}", regex::escape(what)))
        .with_context(|| format!("expected `{line}` to be refused with an error about '{what}'"))
}

/// Free blocks per order in the DMA zone, from `buddyinfo`.
fn dma_free(s: &mut Session) -> Result<Vec<u64>> {
    let lines = s.command("buddyinfo")?;
    let line =
        lines.iter().find(|l| l.split_whitespace().nth(3) == Some("DMA")).context("buddyinfo has no DMA line")?;
    line.split_whitespace().skip(4).map(|n| n.parse().context("buddyinfo count")).collect()
}

/// One field of `meminfo`, in kB.
fn meminfo(s: &mut Session, field: &str) -> Result<u64> {
    let lines = s.command("meminfo")?;
    let line =
        lines.iter().find(|l| l.starts_with(&format!("{field}:"))).with_context(|| format!("no {field} in meminfo"))?;
    line.split_whitespace().nth(1).context("meminfo value")?.parse().context("meminfo value")
}

/// A counter of `vmstat`.
fn vmstat(s: &mut Session, name: &str) -> Result<u64> {
    let lines = s.command("vmstat")?;
    let line =
        lines.iter().find(|l| l.starts_with(&format!("{name} "))).with_context(|| format!("no {name} in vmstat"))?;
    line.split_whitespace().nth(1).context("vmstat value")?.parse().context("vmstat value")
}

/// `vmallocinfo` as (start, size, the rest of the line).
fn vmallocinfo(s: &mut Session) -> Result<Vec<(u64, u64, String)>> {
    let re = Regex::new(r"^(0x[0-9a-f]+)-0x[0-9a-f]+ +(\d+) (.*)$")?;
    s.command("vmallocinfo")?
        .iter()
        .map(|l| {
            let c = re.captures(l).with_context(|| format!("unexpected vmallocinfo line {l:?}"))?;
            Ok((hex(&c[1])?, c[2].parse()?, c[3].to_string()))
        })
        .collect()
}

/// Writes `value` at `addr` with `poke` and checks the echo.
fn poke(s: &mut Session, addr: u64, value: u64) -> Result<()> {
    s.command_expect(&format!("poke {addr:#x} {value:#x}"), &format!("^{addr:#x}: wrote {value:#x}$")).map(drop)
}

/// Reads 64 bits at `addr` with `peek` and requires `value`.
fn peek_is(s: &mut Session, addr: u64, value: u64, why: &str) -> Result<()> {
    let lines = s.command(&format!("peek {addr:#x}"))?;
    let want = format!("{addr:#x}: {value:#018x}");
    ensure!(lines == [want.clone()], "`peek {addr:#x}` ({why}): expected `{want}`, got {lines:?}");
    Ok(())
}

/// The flags of the last entry `pt` shows and the physical address, if
/// the walk reached a page.
fn pt(s: &mut Session, addr: u64) -> Result<(Vec<String>, Option<u64>)> {
    let lines = s.command(&format!("pt {addr:#x}"))?;
    let last_entry =
        lines.iter().rev().find(|l| l.contains(" = ")).with_context(|| format!("`pt {addr:#x}`: {lines:?}"))?;
    let flags = last_entry.split_whitespace().skip(3).map(String::from).collect();
    let phys = match lines.last().and_then(|l| l.strip_prefix("-> physical ")) {
        Some(p) => Some(hex(p)?),
        None => None,
    };
    Ok((flags, phys))
}

fn has_flags(flags: &[String], want: &[&str]) -> bool {
    want.iter().all(|w| flags.iter().any(|f| f == w))
}

/// A random 8-byte-aligned offset inside a page.
fn offset(rng: &mut Rng) -> u64 {
    rng.range(0, PAGE / 8 - 1) * 8
}

// ---------------------------------------------------------------------------
// Lab 1: the buddy allocator
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Lab 2: vmalloc with the list allocator
// ---------------------------------------------------------------------------

/// `vmalloc <size>`; returns the address and the page count.
fn vmalloc(s: &mut Session, bytes: u64) -> Result<(u64, u64)> {
    let pages = bytes.div_ceil(PAGE);
    let line = s.command_expect(
        &format!("vmalloc {bytes}"),
        &format!(r"^0x[0-9a-f]+ \({pages} pages, {} bytes, plus 1 guard page\)$", pages * PAGE),
    )?;
    let addr = first_addr(&line)?;
    ensure!(addr % PAGE == 0 && addr >= VMALLOC_START, "vmalloc returned {addr:#x}: not a page in the vmalloc area");
    Ok((addr, pages))
}

fn vfree(s: &mut Session, addr: u64, pages: u64) -> Result<()> {
    s.command_expect(&format!("vfree {addr:#x}"), &format!(r"^freed {addr:#x} \({pages} pages\)$")).map(drop)
}

/// Pokes every (address, pattern) of `spots`, then reads each back and
/// walks its page table: the pattern must be there, and the PTE must have
/// every flag of `set` and none of `clear`. Returns how many distinct
/// frames the spots lie in.
fn write_and_verify(s: &mut Session, spots: &[(u64, u64)], set: &[&str], clear: &[&str]) -> Result<usize> {
    for &(at, value) in spots {
        poke(s, at, value)?;
    }
    let mut frames = Vec::new();
    for &(at, value) in spots {
        peek_is(s, at, value, "the pattern written there")?;
        let (flags, phys) = pt(s, at)?;
        ensure!(
            has_flags(&flags, set) && !flags.iter().any(|f| clear.contains(&f.as_str())),
            "PTE of {at:#x} has flags {flags:?}: expected {} and none of {clear:?}",
            set.join(" ")
        );
        frames.push(phys.context("mapped page without a physical address")? & !(PAGE - 1));
    }
    frames.sort();
    frames.dedup();
    Ok(frames.len())
}

/// A random size; random patterns on random pages read back; the PTEs
/// say present, writable, global, not executable; distinct frames; the
/// guard page unmapped; after vfree nothing is left.
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
    expect_error(s, &format!("peek {guard:#x}"), "guard page")?;
    vfree(s, addr, pages)?;
    expect_error(s, &format!("peek {addr:#x}"), "freed")?;
    let left = vmallocinfo(s)?;
    ensure!(left.is_empty(), "vmallocinfo after vfree: expected nothing, got {left:?}");
    Ok(())
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

/// VmallocUsed follows the areas; bad vfrees are refused; a second
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

// ---------------------------------------------------------------------------
// Lab 3: the lazy vmalloc fault
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Lab 4: vmap, ioremap, and the tree
// ---------------------------------------------------------------------------

/// `vmap <n>` for a random n: distinct frames, patterns on every page,
/// the right kind in vmallocinfo; vfree refuses it, vunmap undoes it.
fn vmap_maps_pages(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let n = rng.range(2, 12);
    let addr = first_addr(
        &s.command_expect(&format!("vmap {n}"), &format!(r"^0x[0-9a-f]+ \({n} separate pages mapped together\)$"))?,
    )?;
    let info = vmallocinfo(s)?;
    let ok = info
        .iter()
        .any(|(a, size, rest)| *a == addr && *size == (n + 1) * PAGE && rest.ends_with(&format!("pages={n} vmap")));
    ensure!(
        ok,
        "vmallocinfo: expected an area at {addr:#x} of {} bytes ending `pages={n} vmap`, got {info:?}",
        (n + 1) * PAGE
    );
    let spots: Vec<(u64, u64)> = (0..n).map(|i| (addr + i * PAGE + offset(rng), rng.pattern())).collect();
    let frames = write_and_verify(s, &spots, &["P", "W", "NX"], &[])?;
    ensure!(frames as u64 == n, "the {n} pages of the vmap area map only {frames} distinct frames");
    expect_error(s, &format!("peek {:#x}", addr + n * PAGE), "guard page")?;
    expect_error(s, &format!("vfree {addr:#x}"), "is a vmap area")?;
    expect_error(s, &format!("vunmap {:#x}", addr + PAGE * rng.range(1, n - 1)), "not its start")?;
    s.command_expect(&format!("vunmap {addr:#x}"), &format!("^unmapped {addr:#x} and freed its pages$"))?;
    expect_error(s, &format!("peek {addr:#x}"), "freed")?;
    let left = vmallocinfo(s)?;
    ensure!(left.is_empty(), "vmallocinfo after vunmap: expected nothing, got {left:?}");
    Ok(())
}

/// ioremap of the HPET at a random offset and size: the offset is kept,
/// the PTE is uncached and points at the device, the HPET's vendor id
/// reads back; `cache` leaves PCD off; RAM is refused; iounmap undoes it.
fn ioremap_reaches_hpet(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let off = rng.range(0, 0x3ff) & !7;
    let size = rng.range(1, 0x2000);
    let phys = HPET + off;
    let line = s.command_expect(
        &format!("ioremap {phys:#x} {size:#x}"),
        &format!(r"^0x[0-9a-f]+ \({size} bytes of device memory at {phys:#x}, uncached\)$"),
    )?;
    let va = first_addr(&line)?;
    ensure!(
        va % PAGE == off,
        "ioremap of {phys:#x} returned {va:#x}: expected the offset {off:#x} into the page to be kept"
    );
    let base = va - off;
    let pages = (off + size).div_ceil(PAGE);
    let info = vmallocinfo(s)?;
    let ok = info.iter().any(|(a, sz, rest)| {
        *a == base && *sz == (pages + 1) * PAGE && rest.ends_with(&format!("phys={phys:#018x} ioremap"))
    });
    ensure!(
        ok,
        "vmallocinfo: expected an ioremap area at {base:#x} of {} bytes ({pages} pages and the guard), got {info:?}",
        (pages + 1) * PAGE
    );
    let (flags, phys_seen) = pt(s, base)?;
    ensure!(
        has_flags(&flags, &["P", "W", "PWT", "PCD", "NX"]),
        "PTE of {base:#x}: expected P W PWT PCD NX (uncached device memory), got {flags:?}"
    );
    ensure!(phys_seen == Some(HPET), "PTE of {base:#x} points at {phys_seen:x?}, expected the HPET at {HPET:#x}");
    let caps = s.command_expect(&format!("peek {base:#x} 32"), r"^0x[0-9a-f]+: 0x[0-9a-f]{8}$")?;
    let caps = hex(caps.rsplit(' ').next().unwrap_or(""))?;
    ensure!(caps >> 16 == 0x8086, "the HPET's first register reads {caps:#x}: expected vendor 0x8086 in bits 31..16");
    s.command_expect(&format!("iounmap {va:#x}"), &format!("^unmapped {va:#x}$"))?;
    expect_error(s, &format!("peek {base:#x}"), "freed")?;
    let va =
        first_addr(&s.command_expect(&format!("ioremap {HPET:#x} 8 cache"), r"^0x[0-9a-f]+ \(8 bytes .*, cached\)$")?)?;
    let (flags, _) = pt(s, va)?;
    ensure!(!has_flags(&flags, &["PCD"]), "ioremap ... cache: expected a cacheable PTE (no PCD), got {flags:?}");
    s.command_expect(&format!("iounmap {va:#x}"), "^unmapped ")?;
    let ram = rng.range(0x200, 0x4000) * PAGE;
    expect_error(s, &format!("ioremap {ram:#x} {:#x}", rng.range(1, 0x3000)), "ordinary RAM")?;
    let left = vmallocinfo(s)?;
    ensure!(left.is_empty(), "vmallocinfo after iounmap: expected nothing, got {left:?}");
    Ok(())
}

/// A random mix of vmalloc, vmap and ioremap areas: each keeps its own
/// pattern while the others come and go, each is undone by its own call,
/// and the area ends empty.
fn mixed_areas(s: &mut Session, rng: &mut Rng) -> Result<()> {
    struct Live {
        addr: u64,
        pages: u64,
        kind: &'static str,
        /// Where a pattern was written, and the pattern.
        spot: Option<(u64, u64)>,
    }
    let mut live: Vec<Live> = Vec::new();
    for _ in 0..rng.range(5, 9) {
        let (addr, pages, kind) = match rng.range(0, 2) {
            0 => {
                let (addr, pages) = vmalloc(s, rng.range(1, 20) * PAGE)?;
                (addr, pages, "vmalloc")
            }
            1 => {
                let n = rng.range(1, 8);
                let line = s.command_expect(&format!("vmap {n}"), r"^0x[0-9a-f]+ \(")?;
                (first_addr(&line)?, n, "vmap")
            }
            _ => {
                let line =
                    s.command_expect(&format!("ioremap {HPET:#x} {:#x}", rng.range(1, 0x1800)), r"^0x[0-9a-f]+ \(")?;
                let addr = first_addr(&line)?;
                (addr, 0, "ioremap")
            }
        };
        let spot = (kind != "ioremap").then(|| (addr + rng.range(0, pages - 1) * PAGE + offset(rng), rng.pattern()));
        if let Some((at, value)) = spot {
            poke(s, at, value)?;
        }
        live.push(Live { addr, pages, kind, spot });
    }
    let info = vmallocinfo(s)?;
    ensure!(info.len() == live.len(), "vmallocinfo: expected {} areas, got {info:?}", live.len());
    for (i, (start, size, rest)) in info.iter().enumerate() {
        ensure!(info.get(i + 1).is_none_or(|next| start + size <= next.0), "vmallocinfo areas overlap: {info:?}");
        let kind = live.iter().find(|a| a.addr & !(PAGE - 1) == *start).map(|a| a.kind);
        ensure!(
            kind.is_some_and(|k| rest.ends_with(k)),
            "vmallocinfo line at {start:#x} ({rest}) is not the {kind:?} area made there"
        );
    }
    rng.shuffle(&mut live);
    while let Some(Live { addr, pages, kind, .. }) = live.pop() {
        match kind {
            "vmalloc" => vfree(s, addr, pages)?,
            "vmap" => s.command_expect(&format!("vunmap {addr:#x}"), "^unmapped ").map(drop)?,
            _ => s.command_expect(&format!("iounmap {addr:#x}"), "^unmapped ").map(drop)?,
        }
        for &Live { kind, spot, .. } in &live {
            if let Some((at, value)) = spot {
                peek_is(s, at, value, &format!("the pattern of a live {kind} area, after another area was undone"))?;
            }
        }
    }
    let left = vmallocinfo(s)?;
    ensure!(left.is_empty(), "vmallocinfo after undoing every area: expected nothing, got {left:?}");
    Ok(())
}

/// Runs `test_vmalloc` with `args`; requires every case in `cases` to
/// pass with `loops` loops, and no leak reported.
fn test_vmalloc(s: &mut Session, args: &str, cases: &[&str], loops: u64) -> Result<Vec<String>> {
    let lines = s.command(&format!("test_vmalloc {args} test_loop_count={loops}"))?;
    for case in cases {
        let want = format!("Summary: {case} passed: 1 failed: 0 repeat: 1 loops: {loops} avg: ");
        ensure!(lines.iter().any(|l| l.starts_with(&want)), "expected a line starting `{want}`, got {lines:?}");
    }
    ensure!(!lines.iter().any(|l| l.starts_with("error:")), "test_vmalloc reported an error: {lines:?}");
    Ok(lines)
}

/// Linux's random-size and aligned test cases, a random number of loops.
fn test_vmalloc_sizes(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let cases = ["random_size_alloc_test", "fix_align_alloc_test", "random_size_align_alloc_test"];
    test_vmalloc(s, "run_test_mask=0x38", &cases, rng.range(50, 200)).map(drop)
}

/// Linux's vm_map_ram_test (vmap/vunmap here) with random sizes.
fn test_vmalloc_vm_map_ram(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let args = format!("run_test_mask=0x400 nr_pages={}", rng.range(1, 64));
    test_vmalloc(s, &args, &["vm_map_ram_test"], rng.range(50, 200)).map(drop)
}

/// Linux's long_busy_list_alloc_test on the tree: 15000 busy areas, then
/// a random number of 100-page + 1-page allocations, all served without
/// walking the busy list.
fn long_busy_list(s: &mut Session, rng: &mut Rng) -> Result<()> {
    let lines = test_vmalloc(s, "run_test_mask=4", &["long_busy_list_alloc_test"], rng.range(20, 80))?;
    ensure!(
        lines.iter().any(|l| l.starts_with("test_vmalloc: tree allocator")),
        "expected the tree allocator to serve test_vmalloc: {lines:?}"
    );
    Ok(())
}
