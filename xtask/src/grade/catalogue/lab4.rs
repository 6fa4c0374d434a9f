//! Lab 4, vmap, ioremap and (the challenge) the O(log n) tree: its graded
//! tests and shell scenarios.

use super::{
    expect_error, first_addr, has_flags, hex, host, kernel, offset, peek_is, poke, pt, shell, test_vmalloc, vfree,
    vmalloc, vmallocinfo, write_and_verify, Graded, Rng, HPET, LIST, PAGE,
};
use crate::session::Session;
use anyhow::{ensure, Result};

/// The graded tests of lab 4, in the order they are reported.
pub(super) fn tests() -> Vec<Graded> {
    vec![
        // Part A: vmap and ioremap (70 points), by the step that unlocks
        // them. vmap alone, before vunmap:
        kernel("vmalloc::vmap_alone_maps_the_callers_pages", 10, LIST),
        // ioremap alone, before iounmap:
        kernel("vmalloc::ioremap_alone_maps_the_hpet", 10, LIST),
        kernel("vmalloc::ioremap_rejects_bad_ranges", 5, LIST),
        // With vunmap and iounmap:
        kernel("vmalloc::vmap_shows_the_callers_pages", 5, LIST),
        kernel("vmalloc::ioremap_reads_the_hpet", 5, LIST),
        shell("lab4::test_vmalloc_vm_map_ram", 5, test_vmalloc_vm_map_ram, LIST),
        shell("lab4::vmap_maps_the_callers_pages", 10, vmap_maps_pages, LIST),
        shell("lab4::ioremap_reaches_the_hpet", 10, ioremap_reaches_hpet, LIST),
        shell("lab4::mixed_areas_stay_apart", 10, mixed_areas, LIST),
        // Part B, the challenge: the O(log n) tree (30 points).
        host("mm::vmap_area::tests::tree_search_trusts_subtree_max_size", 5),
        host("mm::vmap_area::tests::tree_merges_neighbours", 5),
        host("mm::vmap_area::tests::tree_scales_to_many_areas", 5),
        Graded { timeout: 240, ..shell("lab4::long_busy_list_on_the_tree", 15, long_busy_list, "") },
    ]
}

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
    // A size whose last byte falls one page further than `size` alone
    // would reach, so the page count must include the offset.
    let off = rng.range(1, 0x3ff / 8) * 8;
    let size = rng.range(1, 2) * PAGE - off + rng.range(1, off);
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
