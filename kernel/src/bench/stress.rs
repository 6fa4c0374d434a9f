//! The soak test: a long random mix of every allocation call, with every
//! byte of every live allocation checked and the allocators' invariants
//! audited as it goes.
//!
//! Each live object holds a pattern derived from its id, written in full
//! when it is created and verified in full before it is freed and at random
//! moments. Every `AUDIT_EVERY` operations the buddy lists, the vmalloc
//! areas and the page tables are audited (`PageAllocator::check`,
//! `vmalloc::audit`). At the end everything is freed and the state must
//! match the start (`judge`): heap objects in use, vmalloc pages and
//! areas, address spaces, free pages plus page-table and heap pages
//! (`mm::pages_accounted`), and buddyinfo when no page table or heap page
//! was added.
//!
//! The run first warms up: it creates the page tables for the part of the
//! vmalloc area it will use and grows the area allocator's bookkeeping to
//! its peak, so that on a roomy machine the run itself allocates nothing
//! that legitimately outlives it and buddyinfo comes back exactly. The live
//! footprint is capped so the run stays inside that warmed-up part. On a
//! small or nearly full machine the warm-up cannot map that much; what the
//! run then adds in page tables and heap is counted, not taken for a leak.

use crate::mm::aspace;
use crate::mm::layout::phys_to_virt;
use crate::mm::page::{pages, PAGE_SIZE};
use crate::mm::page_alloc::ZoneType;
use crate::mm::vmalloc::{self, VM_MAP_PUT_PAGES};
use crate::mm::{alloc_pages, free_pages, with_pages};
use crate::rand::XorShift64;
use alloc::vec::Vec;
use x86_64::structures::paging::PhysFrame;
use x86_64::{PhysAddr, VirtAddr};

const MAX_LIVE: usize = 48;
/// Pages of vmalloc memory (guards included) live at once, at most.
const FOOTPRINT: u64 = 4096;
/// The warm-up maps this much, so the run needs no new page tables.
const WARM_PAGES: u64 = 3 * FOOTPRINT;
const AUDIT_EVERY: u64 = 1000;
const MAX_SPACES: usize = 6;

/// A device whose registers the ioremap objects map, and how to tell that
/// it answers there. Machines differ (QEMU's `-no-hpet` has no HPET), so
/// `run` probes the list once and uses the first that answers; with none,
/// no ioremap objects are made.
struct Device {
    phys: u64,
    /// Offset of the register to read, and what a live device has there.
    offset: u64,
    answers: fn(u32) -> bool,
}

const DEVICES: [Device; 2] = [
    // The HPET names its vendor in bits 31..16 of its first register.
    Device { phys: 0xfed0_0000, offset: 0, answers: |caps| caps >> 16 == 0x8086 },
    // The local APIC's version register: 0x10..=0x15 for an integrated APIC.
    Device { phys: 0xfee0_0000, offset: 0x30, answers: |version| (0x10..=0x15).contains(&(version & 0xff)) },
];

/// Index in DEVICES of the device found, or DEVICES.len() for none.
static DEVICE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(DEVICES.len());

/// Reads the identifying register of `d` through a fresh mapping.
fn device_answers(d: &Device) -> bool {
    let Ok(regs) = vmalloc::ioremap(d.phys, 0x400) else { return false };
    // SAFETY: the mapping covers the device's first 0x400 bytes of registers,
    // and reading this register has no side effect.
    let value = unsafe { (regs + d.offset).as_ptr::<u32>().read_volatile() };
    vmalloc::iounmap(regs).is_ok() && (d.answers)(value)
}

fn device() -> Option<&'static Device> {
    DEVICES.get(DEVICE.load(core::sync::atomic::Ordering::Relaxed))
}

/// The address space the run started in (and returns to).
static HOME: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vmalloc,
    Vmap,
    Ioremap,
    Pages(usize),
}

struct Object {
    id: u64,
    kind: Kind,
    addr: u64,
    pages: u64,
}

/// What a run did.
#[derive(Default, Debug)]
pub struct Report {
    pub ops: u64,
    pub bytes_verified: u64,
    pub corrupted: u64,
    pub failures: u64,
    pub spaces_made: u64,
}

/// Where a run went wrong (the run stops at the first problem).
#[derive(Debug)]
pub enum Problem {
    Corrupted {
        id: u64,
        addr: u64,
    },
    Invariant(&'static str),
    Leaked(&'static str),
    /// The run's own bookkeeping could not be had from the heap.
    NoMemory,
    /// Ctrl-C on the console after this many operations.
    Interrupted(u64),
}

impl core::fmt::Display for Problem {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            Problem::Corrupted { id, addr } => write!(f, "object {id} at {addr:#x} corrupted"),
            Problem::Invariant(what) => write!(f, "invariant broken: {what}"),
            Problem::Leaked(what) => write!(f, "state after the run differs: {what}"),
            Problem::NoMemory => write!(f, "out of memory for the run's own bookkeeping (nothing was run)"),
            Problem::Interrupted(ops) => {
                write!(f, "interrupted by Ctrl-C after {ops} operations; everything the run made is freed")
            }
        }
    }
}

fn word(id: u64, i: u64) -> u64 {
    (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i).rotate_left((id % 63) as u32 + 1)
}

/// The memory an object's pattern lives in.
fn base(o: &Object) -> *mut u64 {
    match o.kind {
        Kind::Pages(_) => phys_to_virt(PhysAddr::new(o.addr)).as_mut_ptr(),
        _ => VirtAddr::new(o.addr).as_mut_ptr(),
    }
}

fn fill(o: &Object) {
    if o.kind == Kind::Ioremap {
        // Device registers, not memory: writing patterns into the HPET or
        // the APIC would program it to raise interrupts.
        return;
    }
    let p = base(o);
    for i in 0..o.pages * PAGE_SIZE / 8 {
        // SAFETY: the object owns `pages` mapped pages at `p`.
        unsafe { p.add(i as usize).write_volatile(word(o.id, i)) };
    }
}

fn verify(o: &Object, report: &mut Report) -> Result<(), Problem> {
    if o.kind == Kind::Ioremap {
        let Some(d) = device() else { return Ok(()) };
        // SAFETY: the mapping covers the device's register block.
        let value = unsafe { VirtAddr::new(o.addr + d.offset).as_ptr::<u32>().read_volatile() };
        if !(d.answers)(value) {
            report.corrupted += 1;
            return Err(Problem::Corrupted { id: o.id, addr: o.addr });
        }
        return Ok(());
    }
    let p = base(o);
    for i in 0..o.pages * PAGE_SIZE / 8 {
        // SAFETY: as in `fill`.
        if unsafe { p.add(i as usize).read_volatile() } != word(o.id, i) {
            report.corrupted += 1;
            return Err(Problem::Corrupted { id: o.id, addr: o.addr + i * 8 });
        }
    }
    report.bytes_verified += o.pages * PAGE_SIZE;
    Ok(())
}

/// Snapshot that must come back. No heap: taking it must not change what
/// it measures, and `with_pages` must not reach the heap (the heap takes
/// the same lock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct State {
    /// Free pages plus page-table and heap pages (`mm::pages_accounted`):
    /// what the run allocated and did not give back shows as a drop.
    pub accounted: u64,
    /// What the run allocates, counted directly: heap objects in use
    /// (slab objects and large blocks), pages mapped in vmalloc areas,
    /// and address spaces. Each must come back exactly, whatever the
    /// machine: a leaked heap object or area hides in `accounted`.
    pub heap_objects: u64,
    pub vmalloc_pages: u64,
    pub spaces: usize,
    /// Free pages alone, and the free blocks per order and zone.
    pub free: u64,
    pub buddy: [[u64; 11]; 3],
    /// vmallocinfo: areas and the largest free range.
    pub areas: usize,
    pub largest_free: u64,
}

pub fn state() -> State {
    let (free, buddy) = with_pages(|p| {
        p.drain_pcp();
        (p.free_pages_total(), ZoneType::ALL.map(|z| p.zone(z).nr_free()))
    });
    let t = vmalloc::totals();
    State {
        accounted: crate::mm::pages_accounted(),
        heap_objects: crate::mm::heap::stats().objects_in_use(),
        vmalloc_pages: t.used_pages,
        spaces: aspace::count(),
        free,
        buddy,
        areas: t.areas,
        largest_free: t.largest_free,
    }
}

/// Judges the state after a run against the state before it, first by
/// what the run allocates: heap objects, vmalloc pages and areas, address
/// spaces must all be back to what they were. Then a page the run took
/// and did not give back (an `alloc_pages` block) is a drop in the sum of
/// free, page-table and heap pages. Page tables and slab pages the warm-up
/// did not reach (on a small or nearly full machine it cannot map as much)
/// may stay, as they do after any vmalloc; only when none did must
/// buddyinfo come back exactly too.
pub fn judge(before: &State, after: &State) -> Result<(), Problem> {
    if after.heap_objects != before.heap_objects {
        return Err(Problem::Leaked("heap objects in use"));
    }
    if after.vmalloc_pages != before.vmalloc_pages {
        return Err(Problem::Leaked("vmalloc pages in use"));
    }
    if after.spaces != before.spaces {
        return Err(Problem::Leaked("address spaces"));
    }
    if after.accounted != before.accounted {
        return Err(Problem::Leaked("free + page-table + heap pages"));
    }
    if after.free == before.free && after.buddy != before.buddy {
        return Err(Problem::Leaked("buddyinfo"));
    }
    if (after.areas, after.largest_free) != (before.areas, before.largest_free) {
        return Err(Problem::Leaked("vmallocinfo"));
    }
    Ok(())
}

/// Creates the page tables and bookkeeping the run will use.
fn warm_up() {
    if let Ok(big) = vmalloc::vmalloc(WARM_PAGES * PAGE_SIZE) {
        vmalloc::vfree(big).unwrap();
    }
    // Many small areas, freed every other one first: the area allocator's
    // node pool reaches the size the run will need.
    let mut many = Vec::new();
    if many.try_reserve_exact(2 * MAX_LIVE + 8).is_err() {
        return;
    }
    many.extend((0..2 * MAX_LIVE + 8).filter_map(|_| vmalloc::vmalloc(PAGE_SIZE).ok()));
    for parity in [0, 1] {
        for a in many.iter().skip(parity).step_by(2) {
            vmalloc::vfree(*a).unwrap();
        }
    }
}

/// Runs `ops` random operations from `seed`; returns the report, or the
/// first problem found.
pub fn run(ops: u64, seed: u64) -> Result<Report, Problem> {
    if ops == 0 {
        return Ok(Report::default());
    }
    // Fallibly: the heap may be what fails (fail_page_alloc, a full machine).
    let (mut live, mut spaces): (Vec<Object>, Vec<u64>) = (Vec::new(), Vec::new());
    live.try_reserve_exact(MAX_LIVE).map_err(|_| Problem::NoMemory)?;
    spaces.try_reserve_exact(MAX_SPACES).map_err(|_| Problem::NoMemory)?;
    let found = DEVICES.iter().position(device_answers).unwrap_or(DEVICES.len());
    DEVICE.store(found, core::sync::atomic::Ordering::Relaxed);
    warm_up();
    let home = aspace::current() as u64;
    HOME.store(home, core::sync::atomic::Ordering::Relaxed);
    // Under `vfree lazy` freed ranges wait for a purge: purge before each
    // snapshot, so that both count only what is in use.
    vmalloc::purge_vmap_area_lazy();
    let before = state();
    let mut report = Report::default();
    let mut rng = XorShift64::new(seed);
    let mut next_id = 1;
    let mut footprint = 0;
    let result = (|| {
        for op in 0..ops {
            if crate::drivers::serial::take_interrupt() {
                return Err(Problem::Interrupted(op));
            }
            report.ops += 1;
            step(&mut rng, &mut live, &mut spaces, &mut next_id, &mut footprint, &mut report)?;
            if (op + 1) % AUDIT_EVERY == 0 {
                audit()?;
            }
        }
        Ok(())
    })();
    // Free everything, whatever happened.
    for o in live.drain(..) {
        if result.is_ok() {
            verify(&o, &mut report)?;
        }
        release(&o);
    }
    aspace::switch(home).ok();
    for id in spaces.drain(..) {
        aspace::destroy(id).ok();
    }
    // An interrupted run is checked like a finished one before it says so.
    let interrupted = match result {
        Err(Problem::Interrupted(ops)) => Some(ops),
        other => other.map(|()| None)?,
    };
    audit()?;
    vmalloc::purge_vmap_area_lazy();
    // Measured while the run's own (now empty) vectors still exist, as
    // they did when `before` was taken.
    judge(&before, &state())?;
    match interrupted {
        Some(ops) => Err(Problem::Interrupted(ops)),
        None => Ok(report),
    }
}

fn audit() -> Result<(), Problem> {
    with_pages(|p| p.check()).map_err(Problem::Invariant)?;
    vmalloc::audit().map_err(Problem::Invariant)
}

/// One random operation.
fn step(
    rng: &mut XorShift64,
    live: &mut Vec<Object>,
    spaces: &mut Vec<u64>,
    next_id: &mut u64,
    footprint: &mut u64,
    report: &mut Report,
) -> Result<(), Problem> {
    let choice = rng.below(100);
    let full = live.len() == MAX_LIVE;
    if choice < 40 && !full {
        let id = *next_id;
        *next_id += 1;
        if let Some(o) = create(rng, id, footprint) {
            fill(&o);
            live.push(o);
        } else {
            report.failures += 1;
        }
    } else if choice < 80 && !live.is_empty() {
        let o = live.swap_remove(rng.below(live.len() as u64) as usize);
        verify(&o, report)?;
        if !matches!(o.kind, Kind::Pages(_)) {
            *footprint -= o.pages + 1;
        }
        release(&o);
    } else if choice < 90 && !live.is_empty() {
        let o = &live[rng.below(live.len() as u64) as usize];
        verify(o, report)?;
    } else {
        address_spaces(rng, spaces, report);
    }
    Ok(())
}

/// Makes one object of a random kind, if memory and the budget allow.
fn create(rng: &mut XorShift64, id: u64, footprint: &mut u64) -> Option<Object> {
    let kind = match rng.below(10) {
        0..=4 => Kind::Vmalloc,
        5 | 6 => Kind::Vmap,
        7 => Kind::Ioremap,
        _ => Kind::Pages(rng.below(5) as usize),
    };
    let n = match kind {
        Kind::Pages(order) => pages(order),
        Kind::Ioremap => 1,
        _ => [1, 1, 2, 3, 5, 8, 16, 40, 100][rng.below(9) as usize],
    };
    if !matches!(kind, Kind::Pages(_)) && *footprint + n + 1 > FOOTPRINT {
        return None;
    }
    let addr = match kind {
        Kind::Vmalloc => match rng.below(3) {
            0 => vmalloc::vmalloc(n * PAGE_SIZE),
            1 => vmalloc::vzalloc(n * PAGE_SIZE),
            _ => vmalloc::vmalloc_32(n * PAGE_SIZE),
        }
        .ok()?
        .as_u64(),
        Kind::Vmap => vmap(n)?,
        Kind::Ioremap => vmalloc::ioremap(device()?.phys, 0x400).ok()?.as_u64(),
        Kind::Pages(order) => {
            let zone = ZoneType::ALL[rng.below(3) as usize];
            alloc_pages(order, zone).ok()?.start_address().as_u64()
        }
    };
    if !matches!(kind, Kind::Pages(_)) {
        *footprint += n + 1;
    }
    Some(Object { id, kind, addr, pages: n })
}

fn vmap(n: u64) -> Option<u64> {
    let mut frames: Vec<PhysFrame> = Vec::new();
    frames.try_reserve_exact(n as usize).ok()?;
    for _ in 0..n {
        match alloc_pages(0, ZoneType::Normal) {
            Ok(f) => frames.push(f),
            Err(_) => break,
        }
    }
    let mapped = (frames.len() as u64 == n).then(|| vmalloc::vmap(&frames, VM_MAP_PUT_PAGES).ok()).flatten();
    if mapped.is_none() {
        for f in &frames {
            free_pages(f.start_address(), 0).unwrap();
        }
    }
    mapped.map(|a| a.as_u64())
}

fn release(o: &Object) {
    let addr = VirtAddr::new(o.addr);
    match o.kind {
        Kind::Vmalloc => vmalloc::vfree(addr).unwrap(),
        Kind::Vmap => drop(vmalloc::vunmap(addr).unwrap()),
        Kind::Ioremap => vmalloc::iounmap(addr).unwrap(),
        Kind::Pages(order) => free_pages(PhysAddr::new(o.addr), order).unwrap(),
    }
}

/// Creates, switches to or destroys an address space.
fn address_spaces(rng: &mut XorShift64, spaces: &mut Vec<u64>, report: &mut Report) {
    match rng.below(3) {
        0 if spaces.len() < MAX_SPACES => {
            if let Ok(id) = aspace::create() {
                spaces.push(id as u64);
                report.spaces_made += 1;
            }
        }
        1 if !spaces.is_empty() => {
            let id = spaces[rng.below(spaces.len() as u64) as usize];
            aspace::switch(id).unwrap();
        }
        _ if !spaces.is_empty() => {
            let i = rng.below(spaces.len() as u64) as usize;
            if aspace::current() as u64 == spaces[i] {
                aspace::switch(HOME.load(core::sync::atomic::Ordering::Relaxed)).unwrap();
            }
            aspace::destroy(spaces.swap_remove(i)).unwrap();
        }
        _ => {}
    }
}
