//! The page-table picture: what `pt <vaddr>` prints, drawn. The virtual
//! address is split into its four 9-bit indexes; each level is a column of
//! 512 entries with the one the walk used marked, and a box with the
//! entry, its flags and the table (or page) it points to.

use super::model::{Level, PageWalk};
use super::style::{self, rect, text, title};
use svg::node::element::{Group, Line};
use svg::Document;

const TOP: u32 = 80;
/// The column of 512 entries, and the box beside it.
const COLUMN_W: u32 = 14;
const COLUMN_H: u32 = 220;
const BOX_W: u32 = 196;
const STEP: u32 = COLUMN_W + BOX_W + 30;
/// The physical-address bits of an x86-64 page-table entry (12 to 51).
const ADDRESS_BITS: u64 = 0x000f_ffff_ffff_f000;

pub fn render(walk: Option<&PageWalk>) -> Document {
    let Some(walk) = walk else {
        return style::document("pagetable", 520, 60).add(text(
            8,
            34,
            "No page-table walk: there is no vmalloc area to walk yet",
        ));
    };
    let width = 8 + STEP * walk.levels.len() as u32 + 200;
    let mut doc = style::document("pagetable", width.max(520), TOP + COLUMN_H + 24)
        .set("data-vaddr", walk.vaddr.to_string())
        .add(text(8, 20, format!("Page-table walk of {}", walk.vaddr)).set("font-size", 14))
        .add(text(8, 44, split(walk.vaddr.0)));
    let mut x = 8;
    for level in &walk.levels {
        doc = doc.add(draw_level(level, x));
        x += STEP;
    }
    let end = match (walk.phys, walk.huge) {
        (Some(p), true) => format!("huge page, physical {p}"),
        (Some(p), false) => format!("physical {p}"),
        (None, _) => "not mapped".to_string(),
    };
    let mut last = Group::new().set("class", "phys").add(text(x, TOP + 40, end).set("font-weight", "bold"));
    if walk.phys.is_some() {
        last = last.add(rect(x, TOP + 50, 120, 24, style::cell('V').0).set("opacity", 0.6));
    }
    doc.add(last)
}

/// `vaddr` as the walk reads it: four indexes and the page offset.
fn split(vaddr: u64) -> String {
    let index = |shift: u32| (vaddr >> shift) & 0x1ff;
    format!(
        "PGD index {} (bits 47-39) | PUD {} (38-30) | PMD {} (29-21) | PTE {} (20-12) | offset {:#x}",
        index(39),
        index(30),
        index(21),
        index(12),
        vaddr & 0xfff
    )
}

fn draw_level(level: &Level, x: u32) -> Group {
    let mark_y = TOP + (level.index.min(511) as u32 * COLUMN_H) / 512;
    let mut g = Group::new()
        .set("class", "level")
        .set("data-level", style::clean(&level.level))
        .set("data-index", level.index)
        .add(rect(x, TOP, COLUMN_W, COLUMN_H, "#f0f0f0").set("stroke", "#bdbdbd"))
        .add(rect(x, mark_y, COLUMN_W, 3, style::INK).add(title(format!("entry {} of 512", level.index))))
        .add(
            Line::new()
                .set("x1", x + COLUMN_W)
                .set("y1", mark_y + 1)
                .set("x2", x + COLUMN_W + 8)
                .set("y2", TOP + 12)
                .set("stroke", style::INK),
        );
    let bx = x + COLUMN_W + 8;
    g = g.add(rect(bx, TOP, BOX_W, COLUMN_H, "#ffffff").set("stroke", style::INK));
    let mut lines = vec![format!("{}[{}]", level.level, level.index), format!("entry {:#018x}", level.entry.0)];
    lines.extend(level.flags.iter().map(|f| format!("  {f}")));
    let present = level.flags.iter().any(|f| f == "PRESENT");
    lines.push(match level.next {
        Some(next) => format!("next table {next}"),
        // A leaf: the entry's address bits are the page (or huge page).
        None if present => format!("page {:#x}", level.entry.0 & ADDRESS_BITS),
        None => "not present: the walk stops".to_string(),
    });
    for (i, line) in lines.iter().enumerate().take(COLUMN_H as usize / 16) {
        let t = text(bx + 6, TOP + 18 + i as u32 * 16, line.as_str());
        g = g.add(if i == 0 { t.set("font-weight", "bold") } else { t });
    }
    let arrow_y = TOP + COLUMN_H / 2;
    g.add(
        Line::new()
            .set("x1", bx + BOX_W)
            .set("y1", arrow_y)
            .set("x2", x + STEP)
            .set("y2", arrow_y)
            .set("stroke", style::INK),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_names_the_indexes() {
        assert_eq!(
            split(0xffff_c900_0000_1234),
            "PGD index 402 (bits 47-39) | PUD 0 (38-30) | PMD 0 (29-21) | PTE 1 (20-12) | offset 0x234"
        );
    }
}
