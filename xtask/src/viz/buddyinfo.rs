//! The buddyinfo picture: for each zone, one bar per order (0 to 10) as
//! high as the number of free blocks of that order, coloured like free
//! memory of that order in the physical-memory picture.

use super::model::Zone;
use super::style::{self, rect, text, title};
use svg::node::element::Group;
use svg::Document;

const BAR: u32 = 26;
const CHART_H: u32 = 160;
const TOP: u32 = 40;
const ZONE_W: u32 = 11 * BAR + 40;

pub fn render(zones: &[Zone]) -> Document {
    let max = zones.iter().flat_map(|z| z.buddyinfo.iter().copied()).max().unwrap_or(0).max(1);
    let width = (8 + ZONE_W * zones.len() as u32).max(420);
    let mut doc = style::document("buddyinfo", width, TOP + CHART_H + 56)
        .add(text(8, 20, "Free blocks per order (below each bar) and zone (buddyinfo)").set("font-size", 14));
    for (i, zone) in zones.iter().enumerate() {
        doc = doc.add(chart(zone, 8 + i as u32 * ZONE_W, max));
    }
    doc
}

fn chart(zone: &Zone, x: u32, max: u64) -> Group {
    let base = TOP + CHART_H;
    let mut g = Group::new().set("class", "zone-chart").set("data-zone", style::clean(&zone.name));
    g = g.add(rect(x, base, 11 * BAR, 1, style::INK));
    for (order, &count) in zone.buddyinfo.iter().enumerate().take(11) {
        let h = (count * u64::from(CHART_H - 14) / max) as u32;
        let bx = x + order as u32 * BAR;
        let bar = rect(bx + 2, base - h, BAR - 4, h, style::FREE_ORDER[order])
            .set("class", "bar")
            .set("data-order", order)
            .set("data-count", count)
            .add(title(format!("zone {}, order {order}: {count} free blocks of {} pages", zone.name, 1u32 << order)));
        g = g.add(bar).add(text(bx + 4, base - h - 3, count.to_string()).set("font-size", 10));
        g = g.add(text(bx + 9, base + 14, order.to_string()).set("font-size", 10));
    }
    let words = format!("{}: {} free pages", zone.name, zone.free_pages);
    g.add(text(x, base + 34, words))
}
