//! The live view's feed (`view=on`): after every command, and once at
//! boot, one json line on COM2 with the memory state, for
//! `cargo xtask run --view` to draw (schema "mosaic-state", version 1,
//! docs/visual.md). Streamed as it is computed, no heap; nothing of it
//! reaches the console.

use super::map_json::{self, Buffered};
use crate::drivers::serial;
use crate::mm::layout::{VMALLOC_END, VMALLOC_START};
use crate::mm::vmalloc;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use x86_64::VirtAddr;

/// Lines written since boot (the boot line is 0).
static SEQ: AtomicU64 = AtomicU64::new(0);
/// Start of the area the shell's `vmalloc` made last (0: none yet).
static LAST_VMALLOC: AtomicU64 = AtomicU64::new(0);

/// Cells of the physical map in each line.
const CELLS: u64 = 4096;

/// The shell's `vmalloc` made an area at `start`: the next lines walk it.
pub fn note_vmalloc(start: u64) {
    LAST_VMALLOC.store(start, Relaxed);
}

/// Writes the state line after `command` (the line as typed; "" at
/// boot), if COM2 is on.
pub fn publish(command: &str) {
    if !serial::view_port_on() {
        return;
    }
    let mut out = Buffered::new(|s: &str| serial::write_view_bytes(s.as_bytes()));
    let _ = state(&mut out, command);
    let _ = out.write_str("\n");
}

fn state(out: &mut impl Write, command: &str) -> fmt::Result {
    let seq = SEQ.fetch_add(1, Relaxed);
    write!(out, "{{\"schema\":\"mosaic-state\",\"version\":{},\"seq\":{seq},\"command\":", map_json::VERSION)?;
    map_json::json_string(out, command)?;
    out.write_str(",\"memmap\":")?;
    map_json::memmap(out, None, CELLS)?;
    out.write_str(",\"vmmap\":")?;
    let pt_at = vmalloc::with_areas(|areas| {
        map_json::vmmap(out, areas, VMALLOC_START..VMALLOC_END).map(|_| walked_area(areas))
    })?;
    out.write_str(",\"pt\":")?;
    match pt_at {
        Some(start) => map_json::pt(out, VirtAddr::new(start))?,
        None => out.write_str("null")?,
    }
    out.write_str("}")
}

/// The area whose walk the line shows: the shell's last `vmalloc` if it
/// is still there, else the highest vmalloc area, else none.
fn walked_area(areas: &dyn crate::mm::vmap_area::AreaAllocator<vmalloc::VmStruct>) -> Option<u64> {
    let last = LAST_VMALLOC.load(Relaxed);
    if areas.find(last).is_some_and(|a| a.start == last) {
        return Some(last);
    }
    let mut highest = None;
    areas.for_each(&mut |a| {
        if a.data.kind() == "vmalloc" {
            highest = Some(a.start);
        }
    });
    highest
}
