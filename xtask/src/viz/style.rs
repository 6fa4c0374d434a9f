//! What the pictures share: the colours of cell codes, zones and area kinds,
//! and small constructors over the `svg` crate so each picture reads as
//! layout, not markup.

use svg::node::element::{Group, Rectangle, Text, Title};
use svg::Document;

/// Free blocks of order 0 (light) to 10 (dark): the darker, the larger the
/// block, so a fragmented zone looks pale and a quiet one dark.
pub const FREE_ORDER: [&str; 11] = [
    "#e5f5e0", "#c7e9c0", "#a1d99b", "#74c476", "#41ab5d", "#2f9e55", "#238b45", "#1b7a3d", "#006d2c", "#005a24",
    "#00441b",
];

/// Colour and legend text of one cell code (docs/visual.md).
pub fn cell(code: char) -> (&'static str, String) {
    match code {
        '0'..='9' | 'a' => {
            let order = code.to_digit(11).unwrap_or(0) as usize;
            (FREE_ORDER[order], format!("free, order {order} ({} pages)", 1u32 << order))
        }
        'p' => ("#9ecae1", "free on a per-CPU list".into()),
        'K' => ("#525252", "kernel image, boot memory".into()),
        'M' => ("#8c6bb1", "mem_map (struct page array)".into()),
        'T' => ("#fd8d3c", "page tables".into()),
        'S' => ("#e6c400", "slab caches, kernel heap".into()),
        'V' => ("#e31a1c", "vmalloc / vmap pages".into()),
        'U' => ("#d63fae", "alloc_pages from the shell".into()),
        'X' => ("#969696", "allocated, other owner".into()),
        'R' => ("#8c510a", "reserved (firmware, ACPI)".into()),
        _ => ("#f7f7f7", "hole (no RAM)".into()),
    }
}

/// The colour of a zone's strip under the grid.
pub fn zone(name: &str) -> &'static str {
    match name {
        "DMA" => "#6baed6",
        "DMA32" => "#9e9ac8",
        "Normal" => "#fc9272",
        _ => "#bdbdbd",
    }
}

/// The colour of a vmalloc-area kind (vmalloc matches 'V' in the grid).
pub fn area_kind(kind: &str) -> &'static str {
    match kind {
        "vmalloc" => "#e31a1c",
        "vmap" => "#ff7f00",
        "vmap_block" => "#fdbf6f",
        "ioremap" => "#1f78b4",
        _ => "#969696",
    }
}

pub const FREE_RANGE: &str = "#f0f0f0";
pub const GUARD: &str = "#bdbdbd";
pub const INK: &str = "#252525";

/// A picture `width` x `height` pixels; `kind` names it in its class (the
/// live page and the browser test find pictures by it).
pub fn document(kind: &str, width: u32, height: u32) -> Document {
    Document::new()
        .set("class", format!("mosaic-viz {kind}"))
        .set("width", width)
        .set("height", height)
        .set("viewBox", (0, 0, width, height))
        .set("font-family", "monospace")
        .set("font-size", 12)
        .add(rect(0, 0, width, height, "#ffffff"))
}

pub fn rect(x: u32, y: u32, w: u32, h: u32, fill: &str) -> Rectangle {
    Rectangle::new().set("x", x).set("y", y).set("width", w).set("height", h).set("fill", fill)
}

pub fn text(x: u32, y: u32, s: impl Into<String>) -> Text {
    Text::new(clean(&s.into())).set("x", x).set("y", y).set("fill", INK)
}

/// A tooltip: a browser shows it when the pointer rests on the parent.
pub fn title(s: impl Into<String>) -> Title {
    Title::new(clean(&s.into()))
}

/// A swatch and its words, one legend line.
pub fn legend_line(x: u32, y: u32, fill: &str, words: impl Into<String>) -> Group {
    Group::new().add(rect(x, y, 12, 12, fill).set("stroke", "#bdbdbd")).add(text(x + 18, y + 10, words))
}

/// Text from the kernel goes into attributes and text nodes: the svg
/// crate escapes `&<>`, not quotes, and control characters are never
/// wanted; both become `?`.
pub fn clean(s: &str) -> String {
    s.chars().map(|c| if c == '"' || c.is_control() { '?' } else { c }).collect()
}

/// `bytes` in the largest binary unit that keeps it whole or one decimal.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_codes() {
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(size(20480 + 512), "20.5 KiB");
        assert_eq!(size(32 << 40), "32 TiB");
        assert_eq!(size(100), "100 bytes");
        assert_eq!(cell('a').1, "free, order 10 (1024 pages)");
        assert_eq!(cell('3').0, FREE_ORDER[3]);
        assert_eq!(clean("a\"b\nc"), "a?b?c");
    }
}
