//! The json forms of `memmap`, `vmmap` and `pt` (schema version 1,
//! docs/visual.md), written straight to a `fmt::Write` sink as they are
//! computed: no heap, so they work under `fail_page_alloc`, and a 16 GiB
//! machine's map never has to fit in memory first. The shell sends them
//! to the console; `view.rs` sends them to COM2.

use crate::mm::memmap::{self, Grid, CODES, KINDS};
use crate::mm::page::{NR_ORDERS, PAGE_SIZE};
use crate::mm::page_alloc::{PageAllocator, ZoneType};
use crate::mm::vmalloc::VmStruct;
use crate::mm::vmap_area::{Area, AreaAllocator};
use crate::mm::{self, pgtable};
use core::fmt::{self, Write};
use core::ops::Range;
use x86_64::structures::paging::PageTableFlags as Flags;
use x86_64::VirtAddr;

/// The json schema version these writers follow.
pub const VERSION: u32 = 1;

/// A `fmt::Write` that gathers small writes into a stack buffer and
/// hands whole strings to `sink` (one console lock per 256 bytes rather
/// than per character).
pub struct Buffered<F: FnMut(&str)> {
    buf: [u8; 256],
    len: usize,
    sink: F,
}

impl<F: FnMut(&str)> Buffered<F> {
    pub fn new(sink: F) -> Self {
        Buffered { buf: [0; 256], len: 0, sink }
    }

    /// Sends what is buffered.
    pub fn flush(&mut self) {
        // Only whole `&str`s are ever copied in, so this is UTF-8.
        if let Ok(s) = core::str::from_utf8(&self.buf[..self.len]) {
            (self.sink)(s);
        }
        self.len = 0;
    }
}

impl<F: FnMut(&str)> Write for Buffered<F> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.len + s.len() > self.buf.len() {
            self.flush();
        }
        if s.len() > self.buf.len() {
            (self.sink)(s);
        } else {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        }
        Ok(())
    }
}

impl<F: FnMut(&str)> Drop for Buffered<F> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// The frames `memmap` looks at: a zone's span, or all of `mem_map`.
pub fn pfn_range(p: &PageAllocator, zone: Option<ZoneType>) -> Range<u64> {
    match zone {
        Some(kind) => p.zone(kind).start_pfn..p.zone(kind).end_pfn,
        None => 0..p.max_pfn(),
    }
}

/// Most cells computed under one hold of the page-allocator lock.
pub const CHUNK_CELLS: u64 = 256;

/// Calls `f` on the PFNs of `range` in pieces of `chunk` frames, each
/// under its own hold of the page-allocator lock: the lock (and with it
/// interrupts) is never held for a whole 16 GiB walk, nor while output
/// is printed. Nothing allocates pages between two pieces (the shell
/// runs alone, and interrupt handlers do not allocate), so the pieces
/// add up to one consistent picture.
fn in_chunks(range: Range<u64>, chunk: u64, mut f: impl FnMut(&PageAllocator, Range<u64>)) {
    let mut pfn = range.start;
    while pfn < range.end {
        let end = pfn.saturating_add(chunk.max(1)).min(range.end);
        mm::with_pages(|p| f(p, pfn..end));
        pfn = end;
    }
}

/// Pages of each kind in `range`, counted chunk by chunk.
pub fn totals(range: Range<u64>) -> [u64; KINDS] {
    let mut sums = [0; KINDS];
    in_chunks(range, CHUNK_CELLS << 12, |p, piece| {
        for (sum, n) in sums.iter_mut().zip(memmap::totals(p.mem_map(), piece)) {
            *sum += n;
        }
    });
    sums
}

/// The cells of `range` at `per_cell` pages each, handed to `row` as
/// text, `per_row` cells (at most `CHUNK_CELLS`) at a time, each row
/// computed under the lock and handed over after it is released.
pub fn cells(range: Range<u64>, per_cell: u64, per_row: u64, mut row: impl FnMut(&str)) {
    let per_row = per_row.clamp(1, CHUNK_CELLS);
    let mut grid = Grid::<KINDS>::new(per_cell);
    let end = range.end;
    in_chunks(range, per_cell.saturating_mul(per_row), |p, piece| {
        let mut buf = [0u8; CHUNK_CELLS as usize + 1];
        let mut n = 0;
        let last = piece.end == end;
        let mut emit = |k: u8| {
            buf[n] = CODES[k as usize];
            n += 1;
        };
        memmap::runs(p.mem_map(), piece).for_each(|(k, pages)| grid.feed(k, pages, &mut emit));
        if last {
            grid.finish(&mut emit);
        }
        // Cell codes are ASCII.
        row(core::str::from_utf8(&buf[..n]).unwrap_or(""));
    });
}

/// `memmap json`: the physical map at `cells` cells at most.
pub fn memmap(out: &mut impl Write, zone: Option<ZoneType>, cells_wanted: u64) -> fmt::Result {
    let range = mm::with_pages(|p| {
        let range = pfn_range(p, zone);
        header(out, p, zone, range.clone(), cells_wanted).map(|_| range)
    })?;
    out.write_str("],\"counts\":")?;
    counts(out, &totals(range.clone()))?;
    out.write_str(",\"cells\":\"")?;
    let mut result = Ok(());
    let per_cell = memmap::json_scale(range.end - range.start, cells_wanted);
    cells(range, per_cell, CHUNK_CELLS, |s| result = result.and_then(|_| out.write_str(s)));
    result?;
    out.write_str("\"}")
}

/// The fields of `memmap json` before "counts", the zones' array open.
fn header(
    out: &mut impl Write,
    p: &PageAllocator,
    zone: Option<ZoneType>,
    range: Range<u64>,
    cells: u64,
) -> fmt::Result {
    let total = range.end - range.start;
    let per_cell = memmap::json_scale(total, cells);
    write!(out, "{{\"schema\":\"mosaic-memmap\",\"version\":{VERSION},\"page_size\":{PAGE_SIZE},")?;
    write!(out, "\"total_pages\":{total},\"start_pfn\":{},\"pages_per_cell\":{per_cell},", range.start)?;
    write!(out, "\"cells_count\":{},\"zones\":[", total.div_ceil(per_cell))?;
    let shown = |k: &ZoneType| zone.map_or(p.zone(*k).spanned() > 0, |z| z == *k);
    for (i, kind) in ZoneType::ALL.iter().filter(|k| shown(k)).enumerate() {
        let z = p.zone(*kind);
        let sep = if i > 0 { "," } else { "" };
        write!(out, "{sep}{{\"name\":\"{}\",\"start_pfn\":{},\"end_pfn\":{},", kind.name(), z.start_pfn, z.end_pfn)?;
        write!(out, "\"free_pages\":{},\"buddyinfo\":", z.free_pages)?;
        numbers(out, &z.nr_free())?;
        out.write_str("}")?;
    }
    Ok(())
}

fn numbers(out: &mut impl Write, values: &[u64; NR_ORDERS]) -> fmt::Result {
    out.write_str("[")?;
    for (i, n) in values.iter().enumerate() {
        write!(out, "{}{n}", if i > 0 { "," } else { "" })?;
    }
    out.write_str("]")
}

/// The names of the kinds in "counts", after the free orders (0..=10).
const COUNT_NAMES: [&str; KINDS - 11] =
    ["pcp", "kernel", "mem_map", "pgtable", "slab", "vmalloc", "shell", "other", "reserved", "hole"];

fn counts(out: &mut impl Write, sums: &[u64; KINDS]) -> fmt::Result {
    let free: u64 = sums[..11].iter().sum();
    write!(out, "{{\"free\":{free}")?;
    for (name, n) in COUNT_NAMES.iter().zip(&sums[11..]) {
        write!(out, ",\"{name}\":{n}")?;
    }
    out.write_str("}")
}

/// One piece of the vmalloc area, in address order: a busy area, or the
/// free range between two of them.
pub enum Piece<'a> {
    Busy(&'a Area<VmStruct>),
    Free(Range<u64>),
}

/// Calls `f` on every busy area and every free range of the vmalloc
/// area in address order. Free space is what lies between busy areas
/// (both allocators agree on that), so one walk of the busy areas gives
/// both, with no heap.
pub fn for_each_piece(areas: &dyn AreaAllocator<VmStruct>, f: &mut dyn FnMut(Piece)) {
    let span = areas.span();
    let mut at = span.start;
    areas.for_each(&mut |a| {
        if a.start > at {
            f(Piece::Free(at..a.start));
        }
        f(Piece::Busy(a));
        at = a.end();
    });
    if at < span.end {
        f(Piece::Free(at..span.end));
    }
}

/// The largest free range of the vmalloc area (the lowest of equals).
pub fn largest_free(areas: &dyn AreaAllocator<VmStruct>) -> Option<Range<u64>> {
    let mut best: Option<Range<u64>> = None;
    for_each_piece(areas, &mut |piece| {
        if let Piece::Free(r) = piece {
            if best.as_ref().is_none_or(|b| r.end - r.start > b.end - b.start) {
                best = Some(r);
            }
        }
    });
    best
}

fn range_json(out: &mut impl Write, r: &Range<u64>) -> fmt::Result {
    write!(out, "{{\"start\":\"{:#x}\",\"end\":\"{:#x}\"}}", r.start, r.end)
}

/// `vmmap json`: the areas and free ranges that meet `shown` (free
/// ranges clipped to it); "largest_free" is the whole area's.
pub fn vmmap(out: &mut impl Write, areas: &dyn AreaAllocator<VmStruct>, shown: Range<u64>) -> fmt::Result {
    write!(out, "{{\"schema\":\"mosaic-vmmap\",\"version\":{VERSION},")?;
    write!(out, "\"start\":\"{:#x}\",\"end\":\"{:#x}\",", shown.start, shown.end)?;
    write!(out, "\"allocator\":\"{}\",\"areas\":[", areas.name())?;
    let meets = |r: &Range<u64>| r.start < shown.end && r.end > shown.start;
    let mut first = true;
    let mut result = Ok(());
    for_each_piece(areas, &mut |piece| {
        if let Piece::Busy(a) = piece {
            if meets(&(a.start..a.end())) {
                let sep = if core::mem::take(&mut first) { "" } else { "," };
                result = result.and_then(|_| area_json(out, sep, a));
            }
        }
    });
    result?;
    out.write_str("],\"free\":[")?;
    first = true;
    for_each_piece(areas, &mut |piece| {
        if let Piece::Free(r) = piece {
            if meets(&r) {
                let sep = if core::mem::take(&mut first) { "" } else { "," };
                let clipped = r.start.max(shown.start)..r.end.min(shown.end);
                result = result.and_then(|_| out.write_str(sep)).and_then(|_| range_json(out, &clipped));
            }
        }
    });
    result?;
    out.write_str("],\"largest_free\":")?;
    match largest_free(areas) {
        Some(r) => range_json(out, &r)?,
        None => out.write_str("null")?,
    }
    out.write_str("}")
}

fn area_json(out: &mut impl Write, sep: &str, a: &Area<VmStruct>) -> fmt::Result {
    let d = &a.data;
    let guard = a.size >= (d.nr_pages + 1) * PAGE_SIZE;
    write!(out, "{sep}{{\"start\":\"{:#x}\",\"end\":\"{:#x}\",\"kind\":\"{}\",", a.start, a.end(), d.kind())?;
    write!(out, "\"pages\":{},\"guard\":{guard},\"requested\":{},", d.nr_pages, d.requested)?;
    out.write_str("\"caller\":\"")?;
    json_chars(out, d.caller.file())?;
    write!(out, ":{}\"", d.caller.line())?;
    if let Some(phys) = d.phys_addr {
        write!(out, ",\"phys\":\"{:#x}\"", phys.as_u64())?;
    }
    out.write_str("}")
}

/// `pt <vaddr> json`: the walk of the current page table for `addr`.
pub fn pt(out: &mut impl Write, addr: VirtAddr) -> fmt::Result {
    let walk = pgtable::walk(pgtable::current_pgd(), addr);
    write!(out, "{{\"schema\":\"mosaic-pt\",\"version\":{VERSION},\"vaddr\":\"{:#x}\",\"levels\":[", addr.as_u64())?;
    let mut huge = false;
    for (i, step) in walk.steps.iter().flatten().enumerate() {
        let present = step.flags.contains(Flags::PRESENT);
        let leaf = i == 3 || (i > 0 && step.flags.contains(Flags::HUGE_PAGE));
        huge |= present && leaf && i < 3;
        let sep = if i > 0 { "," } else { "" };
        write!(
            out,
            "{sep}{{\"level\":\"{}\",\"index\":{},\"entry\":\"{:#x}\",\"flags\":[",
            step.level, step.index, step.entry
        )?;
        for (j, (name, _)) in step.flags.iter_names().enumerate() {
            write!(out, "{}\"{name}\"", if j > 0 { "," } else { "" })?;
        }
        match present && !leaf {
            true => write!(out, "],\"next\":\"{:#x}\"}}", step.entry & 0x000f_ffff_ffff_f000)?,
            false => out.write_str("],\"next\":null}")?,
        }
    }
    out.write_str("],\"phys\":")?;
    match walk.phys {
        Some((phys, _)) => write!(out, "\"{:#x}\"", phys.as_u64())?,
        None => out.write_str("null")?,
    }
    write!(out, ",\"huge\":{huge}}}")
}

/// `s` as a json string, quoted.
pub fn json_string(out: &mut impl Write, s: &str) -> fmt::Result {
    out.write_char('"')?;
    json_chars(out, s)?;
    out.write_char('"')
}

/// `s` escaped for the inside of a json string: quotes and backslashes
/// escaped, control characters as \u escapes (the line editor keeps
/// none, and file names have none, but be safe).
fn json_chars(out: &mut impl Write, s: &str) -> fmt::Result {
    for c in s.chars() {
        match c {
            '"' | '\\' => write!(out, "\\{c}")?,
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32)?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}
