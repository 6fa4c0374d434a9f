//! `memmap` and `vmmap`: pictures of physical memory and of the vmalloc
//! area as rows of characters (mm/memmap.rs computes the cells), or as
//! json (map_json.rs). docs/visual.md has the legend and the schema.
//!
//! Both print while they walk, under the page-allocator or vmalloc lock,
//! and use no heap: they must answer under `fail_page_alloc` too.

use super::map_json::{self, for_each_piece, largest_free, Buffered, Piece};
use super::parse::{parse_u64, Shown};
use super::CmdError;
use crate::drivers::serial;
use crate::mm::layout::{VMALLOC_END, VMALLOC_START};
use crate::mm::memmap::{self, Grid, CODES};
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_alloc::ZoneType;
use crate::mm::vmalloc::{self, VmStruct};
use crate::mm::vmap_area::AreaAllocator;
use crate::{bail, mm};
use core::fmt::{self, Write};
use core::ops::{Range, RangeInclusive};

/// Widths a text map may have, in cells.
const WIDTHS: RangeInclusive<u64> = 8..=256;
const DEFAULT_WIDTH: u64 = 64;
/// Cells a json map may ask for.
const CELLS: RangeInclusive<u64> = 1..=1 << 20;
const DEFAULT_CELLS: u64 = 4096;

/// What the words after the command name asked for.
struct MapArgs<'a> {
    json: bool,
    /// `width=N` (text) or `cells=N` (json), checked against its range.
    size: Option<u64>,
    /// The words that are neither `json` nor `width=`/`cells=`.
    rest: [&'a str; 2],
    rest_len: usize,
}

/// Splits `[json] ... [width=N|cells=N]` (`cells=` only where
/// `json_cells`); every word left over goes to `rest` (at most two).
fn split_args<'a>(args: &[&'a str], json_cells: bool) -> Result<MapArgs<'a>, CmdError> {
    let json = args.first() == Some(&"json");
    let mut m = MapArgs { json, size: None, rest: [""; 2], rest_len: 0 };
    let (key, range) = if json { ("cells", CELLS) } else { ("width", WIDTHS) };
    let key_ok = !json || json_cells;
    for &word in &args[json as usize..] {
        if let Some(value) = word.strip_prefix(key).and_then(|v| v.strip_prefix('=')).filter(|_| key_ok) {
            let n = parse_u64(value)?;
            if !range.contains(&n) || m.size.is_some() {
                bail!("{key}={} is out of range ({}..={}, once)", Shown(value), range.start(), range.end());
            }
            m.size = Some(n);
        } else if word.contains('=') || word == "json" {
            bail!("'{}' does not go here (see 'help {}')", Shown(word), if json_cells { "memmap" } else { "vmmap" });
        } else {
            if m.rest_len == m.rest.len() {
                bail!("too many arguments at '{}'", Shown(word));
            }
            m.rest[m.rest_len] = word;
            m.rest_len += 1;
        }
    }
    Ok(m)
}

/// The console, buffered, for streamed output.
fn console() -> Buffered<impl FnMut(&str)> {
    Buffered::new(serial::write_str)
}

/// `memmap [json] [dma|dma32|normal] [width=N|cells=N]`
pub fn memmap(args: &[&str]) -> Result<(), CmdError> {
    let m = split_args(args, true)?;
    if m.rest_len > 1 {
        bail!("one zone at most (dma, dma32 or normal)");
    }
    let zone = match m.rest[..m.rest_len].first() {
        None => None,
        Some(name) => match ZoneType::parse(name) {
            Some(zone) => Some(zone),
            None => bail!("unknown zone '{}' (dma, dma32 or normal)", Shown(name)),
        },
    };
    let mut out = console();
    let result = match m.json {
        true => map_json::memmap(&mut out, zone, m.size.unwrap_or(DEFAULT_CELLS)),
        false => memmap_text(&mut out, zone, m.size.unwrap_or(DEFAULT_WIDTH)),
    };
    out.write_str("\n").and(result).map_err(|_| CmdError::new(format_args!("the console refused output")))
}

/// "1 page per cell" or "N pages per cell".
struct PerCell(u64);

impl fmt::Display for PerCell {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let pages = if self.0 == 1 { "page" } else { "pages" };
        write!(f, "{} {pages} per cell", self.0)
    }
}

/// Writes cells in rows of `width`, each row led by the number (a PFN
/// or an address) of its first cell.
struct Rows<'a, W: Write> {
    out: &'a mut W,
    width: u64,
    col: u64,
    /// Number of the next cell's start, and the step from cell to cell.
    at: u64,
    step: u64,
}

impl<W: Write> Rows<'_, W> {
    fn cell(&mut self, code: u8) {
        if self.col == 0 {
            let _ = write!(self.out, "{:#08x} ", self.at);
        }
        let _ = self.out.write_char(code as char);
        self.at += self.step;
        self.col += 1;
        if self.col == self.width {
            let _ = self.out.write_char('\n');
            self.col = 0;
        }
    }

    fn end(&mut self) {
        if self.col > 0 {
            let _ = self.out.write_char('\n');
            self.col = 0;
        }
    }
}

fn memmap_text(out: &mut impl Write, zone: Option<ZoneType>, width: u64) -> fmt::Result {
    // The zones' spans, copied out of the lock.
    let (range, spans) = mm::with_pages(|p| {
        let span = |k: ZoneType| (k, p.zone(k).start_pfn..p.zone(k).end_pfn);
        (map_json::pfn_range(p, zone), ZoneType::ALL.map(span))
    });
    let total = range.end - range.start;
    let per_cell = memmap::text_scale(total, width);
    writeln!(
        out,
        "memmap: pfn {:#x}-{:#x}, {total} pages ({} MiB)",
        range.start,
        range.end,
        (total * PAGE_SIZE) >> 20
    )?;
    writeln!(out, "scale: {}, {width} cells per row", PerCell(per_cell))?;
    writeln!(out, "legend: 0-9 a = free block of order 0-9, 10 | p per-CPU list | K kernel image/boot")?;
    writeln!(out, "        M mem_map | T page table | S slab/heap | V vmalloc/vmap | U shell alloc_pages")?;
    writeln!(out, "        X other | R reserved (firmware) | . hole; a mixed cell shows its most pages")?;
    for (kind, span) in spans.into_iter().filter(|(k, _)| zone.is_none_or(|z| z == *k)) {
        let pages = span.end - span.start;
        if pages == 0 {
            writeln!(out, "-- zone {} is empty --", kind.name())?;
            continue;
        }
        writeln!(out, "-- zone {} from pfn {:#x} ({pages} pages) --", kind.name(), span.start)?;
        let mut at = span.start;
        let mut result = Ok(());
        map_json::cells(span, per_cell, width, |row| {
            result = result.and_then(|_| writeln!(out, "{at:#08x} {row}"));
            at += per_cell * width;
        });
        result?;
    }
    let sums = map_json::totals(range);
    let free: u64 = sums[..11].iter().sum();
    write!(out, "pages: free {free}")?;
    for (code, n) in CODES[11..].iter().zip(&sums[11..]) {
        write!(out, ", {} {n}", *code as char)?;
    }
    Ok(())
}

/// The vmmap picture's kinds, by index; ties go to the first.
const VM_CODES: &[u8; 6] = b"VMIg=-";
const VM_KINDS: usize = VM_CODES.len();
const GUARD: u8 = 3;
const LARGEST: u8 = 4;
const FREE: u8 = 5;

/// `vmmap [json] [<start> <end>] [width=N]`
pub fn vmmap(args: &[&str]) -> Result<(), CmdError> {
    let m = split_args(args, false)?;
    let range = match m.rest[..m.rest_len] {
        [] => None,
        [start, end] => Some(vm_range(start, end)?),
        _ => bail!("give both ends of the range, or neither: vmmap [json] [<start> <end>] [width=N]"),
    };
    let mut out = console();
    let result = vmalloc::with_areas(|areas| match m.json {
        true => map_json::vmmap(&mut out, areas, range.unwrap_or(VMALLOC_START..VMALLOC_END)),
        false => vmmap_text(&mut out, areas, range, m.size.unwrap_or(DEFAULT_WIDTH)),
    });
    out.write_str("\n").and(result).map_err(|_| CmdError::new(format_args!("the console refused output")))
}

/// A range of the vmalloc area from two addresses, widened to whole pages.
fn vm_range(start: &str, end: &str) -> Result<Range<u64>, CmdError> {
    let (start, end) = (parse_u64(start)?, parse_u64(end)?);
    if end <= start {
        bail!("the range {start:#x}-{end:#x} is empty or wraps (the end must be above the start)");
    }
    if start < VMALLOC_START || end > VMALLOC_END {
        bail!("{start:#x}-{end:#x} is not inside the vmalloc area ({VMALLOC_START:#x}-{VMALLOC_END:#x})");
    }
    Ok(start & !(PAGE_SIZE - 1)..end.next_multiple_of(PAGE_SIZE))
}

/// The default text range: from the bottom of the area to the end of
/// the last busy area, and at least one row of single pages.
fn default_vm_range(areas: &dyn AreaAllocator<VmStruct>, width: u64) -> Range<u64> {
    let mut last = VMALLOC_START;
    areas.for_each(&mut |a| last = last.max(a.end()));
    VMALLOC_START..last.max(VMALLOC_START + width * PAGE_SIZE)
}

fn vmmap_text(
    out: &mut impl Write,
    areas: &dyn AreaAllocator<VmStruct>,
    range: Option<Range<u64>>,
    width: u64,
) -> fmt::Result {
    let shown = range.clone().unwrap_or_else(|| default_vm_range(areas, width));
    let pages = (shown.end - shown.start) / PAGE_SIZE;
    let per_cell = memmap::text_scale(pages, width);
    let largest = largest_free(areas);
    writeln!(out, "vmmap: {:#x}-{:#x}, {pages} pages, allocator {}", shown.start, shown.end, areas.name())?;
    writeln!(out, "scale: {}, {width} cells per row", PerCell(per_cell))?;
    writeln!(out, "legend: V vmalloc | M vmap (and vm_map_ram blocks) | I ioremap | g guard page or unpurged | - free | = the largest free range")?;
    writeln!(out, "        (a mixed cell shows its most pages)")?;
    let mut rows = Rows { out: &mut *out, width, col: 0, at: shown.start, step: per_cell * PAGE_SIZE };
    let mut grid = Grid::<VM_KINDS>::new(per_cell);
    let mut emit = |k: u8| rows.cell(VM_CODES[k as usize]);
    let mut counts = [0u64; 3];
    let mut feed = |kind: u8, r: Range<u64>| {
        let (start, end) = (r.start.max(shown.start), r.end.min(shown.end));
        if start < end {
            grid.feed(kind, (end - start) / PAGE_SIZE, &mut emit);
        }
    };
    for_each_piece(areas, &mut |piece| match piece {
        // Freed lazily (vfree lazy): nothing mapped, the range reserved
        // until the purge, as a guard page is.
        Piece::Busy(a) if a.data.kind() == "unpurged" => feed(GUARD, a.start..a.end()),
        Piece::Busy(a) => {
            let kind = match a.data.kind() {
                "vmalloc" => 0,
                "vmap" | "vmap_block" => 1,
                _ => 2,
            };
            let mapped_end = a.start + a.data.nr_pages * PAGE_SIZE;
            if a.start < shown.end && a.end() > shown.start {
                counts[kind as usize] += 1;
            }
            feed(kind, a.start..mapped_end);
            feed(GUARD, mapped_end..a.end());
        }
        Piece::Free(r) => feed(if Some(&r) == largest.as_ref() { LARGEST } else { FREE }, r),
    });
    grid.finish(&mut emit);
    rows.end();
    let [v, m, i] = counts;
    writeln!(out, "areas shown: {} ({v} vmalloc, {m} vmap, {i} ioremap)", v + m + i)?;
    match largest {
        Some(r) => {
            let inside = r.start < shown.end && r.end > shown.start;
            let note = if inside { "drawn as '='" } else { "outside this map" };
            write!(
                out,
                "largest free range: {:#x}-{:#x} ({} pages), {note}",
                r.start,
                r.end,
                (r.end - r.start) / PAGE_SIZE
            )?
        }
        None => write!(out, "largest free range: none, the area is full")?,
    }
    if range.is_none() && shown.end < VMALLOC_END {
        write!(out, "\nnot drawn: {:#x}-{VMALLOC_END:#x}, free (vmmap <start> <end> draws any range)", shown.end)?;
    }
    Ok(())
}
