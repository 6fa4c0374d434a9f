//! The vmalloc picture: the area from VMALLOC_START to VMALLOC_END as one
//! track of busy areas and free ranges in address order, then one line
//! per area naming its kind, size, guard page and caller.
//!
//! The area is 32 TiB and a typical allocation a few pages, so a linear
//! track would show nothing: each piece of the track is as wide as the
//! logarithm of its size (at least a few pixels), and the track says so.

use super::model::{Area, Hex, Range, VmMap};
use super::style::{self, rect, text, title};
use svg::node::element::Group;
use svg::Document;

const WIDTH: u32 = 960;
const TRACK_Y: u32 = 56;
const TRACK_H: u32 = 36;
const LIST_Y: u32 = TRACK_Y + TRACK_H + 40;
const LINE: u32 = 18;
/// More areas than this are summed up in one line.
const MAX_LINES: usize = 60;

/// One piece of the track.
enum Piece<'a> {
    Busy(&'a Area),
    Free(Range),
}

impl Piece<'_> {
    fn range(&self) -> (u64, u64) {
        match self {
            Piece::Busy(a) => (a.start.0, a.end.0),
            Piece::Free(r) => (r.start.0, r.end.0),
        }
    }
}

pub fn render(map: &VmMap) -> Document {
    let pieces = pieces(map);
    let lines = map.areas.len().min(MAX_LINES) + usize::from(map.areas.len() > MAX_LINES) + 2;
    let height = LIST_Y + lines as u32 * LINE + 10;
    let span = map.end.0.saturating_sub(map.start.0);
    let heading = format!(
        "vmalloc area {}-{} ({}), {} allocator: {} area{}",
        map.start,
        map.end,
        style::size(span),
        if map.allocator.is_empty() { "unknown" } else { &map.allocator },
        map.areas.len(),
        if map.areas.len() == 1 { "" } else { "s" }
    );
    // Wide enough for the longest line of the list (monospace, 12 px).
    let longest = list_lines(map).iter().map(|l| l.chars().count()).max().unwrap_or(0) as u32;
    let mut doc = style::document("vmmap", WIDTH.max(40 + longest * 15 / 2), height)
        .set("data-areas", map.areas.len())
        .add(text(8, 20, heading).set("font-size", 14))
        .add(text(8, TRACK_Y - 10, "address order; widths grow with the logarithm of the size, not the size"));
    doc = doc.add(track(map, &pieces));
    doc.add(list(map))
}

/// Areas and free ranges in address order; any gap neither covers (a
/// kernel that lists only some free ranges) becomes a free piece.
fn pieces(map: &VmMap) -> Vec<Piece<'_>> {
    let mut pieces: Vec<Piece> =
        map.areas.iter().map(Piece::Busy).chain(map.free.iter().copied().map(Piece::Free)).collect();
    pieces.sort_by_key(|p| p.range().0);
    let mut out = Vec::with_capacity(pieces.len());
    let mut at = map.start.0;
    for p in pieces {
        let (start, end) = p.range();
        if start > at {
            out.push(Piece::Free(Range { start: Hex(at), end: Hex(start) }));
        }
        at = at.max(end);
        out.push(p);
    }
    if at < map.end.0 {
        out.push(Piece::Free(Range { start: Hex(at), end: map.end }));
    }
    out
}

/// How wide a piece of `bytes` is drawn, before scaling to the track.
fn weight(bytes: u64) -> f64 {
    4.0 + (bytes.max(4096) as f64 / 4096.0).log2()
}

fn track(map: &VmMap, pieces: &[Piece]) -> Group {
    let usable = f64::from(WIDTH - 16);
    let total: f64 = pieces.iter().map(|p| weight(p.range().1 - p.range().0)).sum::<f64>().max(1.0);
    let mut g = Group::new().set("class", "track");
    let mut x: f64 = 8.0;
    for piece in pieces {
        let (start, end) = piece.range();
        let w = weight(end - start) / total * usable;
        let (x0, w0) = (x.round() as u32, (w.round() as u32).max(2));
        g = g.add(match piece {
            Piece::Busy(area) => busy(area, x0, w0),
            Piece::Free(r) => free(map, *r, x0, w0),
        });
        x += w;
    }
    g
}

fn busy(area: &Area, x: u32, w: u32) -> Group {
    let fill = style::area_kind(&area.kind);
    let mut g = Group::new()
        .set("class", "area")
        .set("data-kind", style::clean(&area.kind))
        .set("data-start", area.start.to_string())
        .set("data-caller", style::clean(&area.caller))
        .add(title(format!("{} {}-{}: {} pages, {}", area.kind, area.start, area.end, area.pages, area.caller)));
    let guard_w = if area.guard { (w / (area.pages as u32 + 1)).clamp(2, 12).min(w / 2) } else { 0 };
    g = g.add(rect(x, TRACK_Y, w - guard_w, TRACK_H, fill).set("stroke", "#ffffff"));
    if guard_w > 0 {
        g = g.add(rect(x + w - guard_w, TRACK_Y, guard_w, TRACK_H, style::GUARD).set("class", "guard"));
    }
    g.add(text(x + 2, TRACK_Y + TRACK_H + 14, area.kind.chars().take(4).collect::<String>()).set("font-size", 10))
}

fn free(map: &VmMap, r: Range, x: u32, w: u32) -> Group {
    let largest = map.largest_free == Some(r);
    let mut piece = rect(x, TRACK_Y + 8, w, TRACK_H - 16, style::FREE_RANGE).set("class", "free");
    if largest {
        piece = piece.set("stroke", style::INK).set("stroke-dasharray", "4 2").set("class", "free largest");
    }
    let words = format!(
        "free {}-{} ({}){}",
        r.start,
        r.end,
        style::size(r.end.0 - r.start.0),
        if largest { ", the largest" } else { "" }
    );
    Group::new().add(piece.add(title(words)))
}

/// The words of the list's line for each of the first MAX_LINES areas.
fn list_lines(map: &VmMap) -> Vec<String> {
    let line = |area: &Area| {
        let guard = if area.guard { " + guard" } else { "" };
        let asked = if area.requested > 0 { format!(", {} bytes asked", area.requested) } else { String::new() };
        let phys = area.phys.map(|p| format!(" phys {p}")).unwrap_or_default();
        let plural = if area.pages == 1 { "" } else { "s" };
        format!(
            "{}-{} {:<7} {} page{plural}{guard}{asked}{phys}  {}",
            area.start, area.end, area.kind, area.pages, area.caller
        )
    };
    map.areas.iter().take(MAX_LINES).map(line).collect()
}

/// One line per area (the first MAX_LINES), then the largest free range.
fn list(map: &VmMap) -> Group {
    let mut g = Group::new().set("class", "list");
    let mut y = LIST_Y;
    for (area, words) in map.areas.iter().zip(list_lines(map)) {
        g = g.add(style::legend_line(8, y - 10, style::area_kind(&area.kind), words).set("class", "area-line"));
        y += LINE;
    }
    if map.areas.len() > MAX_LINES {
        g = g.add(text(26, y, format!("... and {} more areas", map.areas.len() - MAX_LINES)));
        y += LINE;
    }
    if map.areas.is_empty() {
        g = g.add(text(26, y, "no busy areas"));
        y += LINE;
    }
    if let Some(r) = map.largest_free {
        let words = format!("largest free range {}-{} ({})", r.start, r.end, style::size(r.end.0 - r.start.0));
        g = g.add(style::legend_line(8, y - 10, style::FREE_RANGE, words));
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_become_free_pieces() {
        let map = VmMap::parse(
            r#"{"schema":"mosaic-vmmap","version":1,"start":"0x10000","end":"0x20000",
            "areas":[{"start":"0x12000","end":"0x14000","kind":"vmalloc","pages":1,"guard":true}]}"#,
        )
        .unwrap();
        let ranges: Vec<(u64, u64)> = pieces(&map).iter().map(Piece::range).collect();
        assert_eq!(ranges, vec![(0x10000, 0x12000), (0x12000, 0x14000), (0x14000, 0x20000)]);
    }
}
