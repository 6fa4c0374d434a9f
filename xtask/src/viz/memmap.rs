//! The physical-memory picture: one square per cell of `memmap json`,
//! coloured by owner (or, for free memory, by the order of the free block
//! the cell lies in), with each zone's colour in a strip under the cells
//! and a legend that counts pages per kind.
//!
//! Neighbouring cells of one code in a row are drawn as one rectangle
//! (`data-n` says how many cells), which keeps a 4096-cell map small
//! enough to push to the live page after every command.

use super::model::{MemMap, Zone};
use super::style::{self, rect, text, title};
use svg::node::element::Group;
use svg::Document;

/// Cells per row, and the size of one cell in pixels.
const COLUMNS: usize = 64;
const CELL: u32 = 10;
/// Cell square and zone strip heights inside a row of `CELL + 3` pixels.
const SQUARE: u32 = 8;
const STRIP: u32 = 2;
const LEFT: u32 = 80;
const TOP: u32 = 40;

/// The legend's kinds after the free orders, with their `counts` key.
const KINDS: [(char, &str); 10] = [
    ('p', "pcp"),
    ('K', "kernel"),
    ('M', "mem_map"),
    ('T', "pgtable"),
    ('S', "slab"),
    ('V', "vmalloc"),
    ('U', "shell"),
    ('X', "other"),
    ('R', "reserved"),
    ('.', "hole"),
];

pub fn render(map: &MemMap) -> Document {
    let cells: Vec<char> = map.cells.chars().collect();
    let columns = COLUMNS.min(cells.len().max(1));
    let rows = cells.len().div_ceil(columns) as u32;
    let grid_w = columns as u32 * CELL;
    let legend_x = LEFT + grid_w + 24;
    let height = (TOP + rows * (CELL + 3)).max(TOP + 20 * 16 + 8 * 16) + 16;
    let heading = format!(
        "Physical memory: {} pages of {} ({}), {} page{} per cell",
        map.total_pages,
        style::size(map.page_size),
        style::size(map.total_pages * map.page_size),
        map.pages_per_cell,
        if map.pages_per_cell == 1 { "" } else { "s" }
    );
    let mut doc = style::document("memmap", legend_x + 370, height)
        .set("data-cells", cells.len())
        .set("data-pages-per-cell", map.pages_per_cell)
        .add(text(8, 20, heading).set("font-size", 14));
    for row in 0..rows as usize {
        let slice = &cells[row * columns..((row + 1) * columns).min(cells.len())];
        doc = doc.add(draw_row(map, row, columns, slice));
    }
    doc.add(legend(map, legend_x))
}

/// One row: its first frame number, the runs of cells, the zone strip.
fn draw_row(map: &MemMap, row: usize, columns: usize, cells: &[char]) -> Group {
    let y = TOP + row as u32 * (CELL + 3);
    let first = row * columns;
    let mut group = Group::new().add(text(8, y + SQUARE, format!("{:#07x}", pfn(map, first))).set("font-size", 10));
    for (start, len, code) in runs(cells, |&c| c) {
        let (fill, words) = style::cell(code);
        let (lo, hi) = (pfn(map, first + start), pfn(map, first + start + len) - 1);
        let cell = rect(LEFT + start as u32 * CELL, y, len as u32 * CELL - 1, SQUARE, fill)
            .set("class", "cell")
            .set("data-code", code.to_string())
            .set("data-n", len)
            .add(title(format!("pfn {lo:#x}-{hi:#x}: {words}")));
        group = group.add(cell);
    }
    let zones: Vec<Option<&Zone>> = (0..cells.len()).map(|i| zone_of(map, pfn(map, first + i))).collect();
    for (start, len, zone) in runs(&zones, |z| z.map(|z| z.name.as_str())) {
        if let Some(name) = zone {
            let strip = rect(LEFT + start as u32 * CELL, y + SQUARE + 1, len as u32 * CELL, STRIP, style::zone(name));
            group = group.add(strip.set("class", "zone").set("data-zone", name));
        }
    }
    group
}

/// Maximal runs of equal keys: (start, length, key).
fn runs<T, K: PartialEq + Copy>(items: &[T], key: impl Fn(&T) -> K) -> Vec<(usize, usize, K)> {
    let mut out: Vec<(usize, usize, K)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let k = key(item);
        match out.last_mut() {
            Some((_, len, last)) if *last == k => *len += 1,
            _ => out.push((i, 1, k)),
        }
    }
    out
}

/// The first frame number of cell `i`.
fn pfn(map: &MemMap, i: usize) -> u64 {
    map.start_pfn + i as u64 * map.pages_per_cell
}

fn zone_of(map: &MemMap, pfn: u64) -> Option<&Zone> {
    map.zones.iter().find(|z| z.start_pfn <= pfn && pfn < z.end_pfn)
}

/// Free orders, then owners with their page counts, then the zones.
fn legend(map: &MemMap, x: u32) -> Group {
    let mut g =
        Group::new().set("class", "legend").add(text(x, TOP - 8, "each cell shows the kind with the most pages"));
    let mut y = TOP;
    for (order, _) in style::FREE_ORDER.iter().enumerate() {
        let code = std::char::from_digit(order as u32, 11).unwrap_or('0');
        g = g.add(style::legend_line(x, y, style::cell(code).0, style::cell(code).1));
        y += 16;
    }
    if let Some(free) = map.counts.get("free") {
        g = g.add(text(x, y + 10, format!("free pages in all: {free}")));
        y += 16;
    }
    for (code, key) in KINDS {
        let (fill, words) = style::cell(code);
        let count = map.counts.get(key).map(|n| format!(": {n} pages")).unwrap_or_default();
        g = g.add(style::legend_line(x, y, fill, format!("{words}{count}")));
        y += 16;
    }
    y += 8;
    for zone in &map.zones {
        let words =
            format!("zone {} pfn {:#x}-{:#x}, {} free", zone.name, zone.start_pfn, zone.end_pfn, zone.free_pages);
        g = g.add(style::legend_line(x, y, style::zone(&zone.name), words).set("class", "zone-legend"));
        y += 16;
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_neighbours() {
        assert_eq!(runs(&['a', 'a', 'b', 'a'], |&c| c), vec![(0, 2, 'a'), (2, 1, 'b'), (3, 1, 'a')]);
        assert!(runs(&[] as &[char], |&c| c).is_empty());
    }
}
