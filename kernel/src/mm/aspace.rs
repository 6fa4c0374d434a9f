//! Address spaces, and how their top-level entries for the vmalloc area are
//! kept in step with the master page table.
//!
//! Each address space owns a PGD (PML4) page. A new one gets a copy of the
//! master's entries, so the lower-level tables of the kernel (direct map,
//! kernel image, vmalloc area) are shared, never copied. vmalloc changes only
//! the master (Linux's `init_mm`), so when the master gains a new top-level
//! entry for the vmalloc area, the other PGDs lack it. Three ways to fix
//! that, switchable at run time with `pgd_sync` (see docs/lazy-pgd.md):
//!
//! - `Lazy` (Linux 2.4-5.7, Gorman ch. 7): nothing is copied up front. The
//!   first access from an address space that lacks the entry page-faults,
//!   and the fault handler copies the entry from the master (`fault/vmalloc_fault.rs`).
//! - `Eager` (Linux 5.8, `arch_sync_kernel_mappings`): when the master gains
//!   an entry, it is copied into every address space at once.
//! - `Prealloc` (Linux 5.9+, `preallocate_vmalloc_pages`): every top-level
//!   entry of the vmalloc area exists in the master from the start, so they
//!   never change and are copied once, when an address space is created.
//!
//! The table of address spaces is a fixed array of atomics so the page-fault
//! handler can read it without taking a lock.

use super::layout::phys_to_virt;
use super::page::{PageOwner, PAGE_SIZE};
use super::page_alloc::ZoneType;
use super::pgtable::{current_pgd, master_pgd};
use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{PageTable, PhysFrame};
use x86_64::PhysAddr;

/// Address spaces that can exist at once, the master (id 0) included.
pub const MAX_SPACES: usize = 128;

pub use super::layout::VMALLOC_PGD;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Lazy = 0,
    Eager = 1,
    Prealloc = 2,
}

impl Strategy {
    pub fn name(self) -> &'static str {
        ["lazy", "eager", "prealloc"][self as usize]
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        [Strategy::Lazy, Strategy::Eager, Strategy::Prealloc].into_iter().find(|x| x.name() == s)
    }
}

/// One address space: its PGD's physical address (0: slot unused) and the
/// vmalloc faults it has taken.
struct Slot {
    pgd: AtomicU64,
    faults: AtomicU64,
}

static SLOTS: [Slot; MAX_SPACES] = [const { Slot { pgd: AtomicU64::new(0), faults: AtomicU64::new(0) } }; MAX_SPACES];
static STRATEGY: AtomicU8 = AtomicU8::new(Strategy::Lazy as u8);
static CURRENT: AtomicUsize = AtomicUsize::new(0);

/// The counters `vmstat` shows.
pub static VMALLOC_FAULTS: AtomicU64 = AtomicU64::new(0);
pub static EAGER_COPIES: AtomicU64 = AtomicU64::new(0);
pub static PREALLOC_PAGES: AtomicU64 = AtomicU64::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsError {
    NoSuchSpace(u64),
    IsMaster,
    IsCurrent(usize),
    TooMany,
    NoMemory,
}

impl fmt::Display for AsError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            AsError::NoSuchSpace(id) => write!(f, "no address space {id} (see 'as list')"),
            AsError::IsMaster => write!(f, "address space 0 is the master page table and cannot be destroyed"),
            AsError::IsCurrent(id) => write!(f, "address space {id} is the current one: switch away first"),
            AsError::TooMany => write!(f, "all {MAX_SPACES} address space slots are in use"),
            AsError::NoMemory => write!(f, "out of memory"),
        }
    }
}

/// Records the master table as address space 0, and asks pgtable to
/// report every new top-level entry of the master to `on_new_master_entry`.
pub fn init() {
    super::pgtable::set_new_entry_hook(on_new_master_entry);
    SLOTS[0].pgd.store(master_pgd().start_address().as_u64(), Relaxed);
}

pub fn strategy() -> Strategy {
    match STRATEGY.load(Relaxed) {
        1 => Strategy::Eager,
        2 => Strategy::Prealloc,
        _ => Strategy::Lazy,
    }
}

/// The PGD at physical address `pgd`, through the direct map.
///
/// # Safety
/// `pgd` must be the address of a live PGD page; no other reference to it
/// may be in use while the returned one is.
unsafe fn table(pgd: u64) -> &'static mut PageTable {
    // SAFETY: per the contract.
    unsafe { &mut *phys_to_virt(PhysAddr::new(pgd)).as_mut_ptr::<PageTable>() }
}

/// Creates an address space: a new PGD with the master's kernel entries.
/// Under `lazy` the vmalloc entries are left out, so that every one of them
/// arrives through a fault (this makes the mechanism visible; Linux copied
/// the entries that existed at creation time). Under `eager` and `prealloc`
/// they are copied, and from then on kept in step.
pub fn create() -> Result<usize, AsError> {
    let id = (1..MAX_SPACES).find(|&i| SLOTS[i].pgd.load(Relaxed) == 0).ok_or(AsError::TooMany)?;
    let frame = super::alloc_pages_for(PageOwner::PageTable, 0, ZoneType::Normal).map_err(|_| AsError::NoMemory)?;
    let pgd = frame.start_address().as_u64();
    let with_vmalloc = strategy() != Strategy::Lazy;
    // SAFETY: a fresh page of ours, and the live master.
    let (new, master) = unsafe { (table(pgd), table(master_pgd().start_address().as_u64())) };
    for (i, entry) in new.iter_mut().enumerate() {
        *entry = if VMALLOC_PGD.contains(&i) && !with_vmalloc {
            x86_64::structures::paging::page_table::PageTableEntry::new()
        } else {
            master[i].clone()
        };
    }
    SLOTS[id].faults.store(0, Relaxed);
    SLOTS[id].pgd.store(pgd, Relaxed);
    Ok(id)
}

fn slot_pgd(id: u64) -> Result<(usize, u64), AsError> {
    let i = usize::try_from(id).ok().filter(|&i| i < MAX_SPACES).ok_or(AsError::NoSuchSpace(id))?;
    match SLOTS[i].pgd.load(Relaxed) {
        0 => Err(AsError::NoSuchSpace(id)),
        pgd => Ok((i, pgd)),
    }
}

/// Loads the address space's PGD into CR3.
pub fn switch(id: u64) -> Result<(), AsError> {
    let (i, pgd) = slot_pgd(id)?;
    let (_, flags) = Cr3::read();
    // SAFETY: every PGD on the list maps the kernel exactly as the master
    // does, so the code and stack running now stay mapped.
    unsafe { Cr3::write(PhysFrame::containing_address(PhysAddr::new(pgd)), flags) };
    CURRENT.store(i, Relaxed);
    Ok(())
}

/// Frees the address space's PGD page (its only page of its own).
pub fn destroy(id: u64) -> Result<(), AsError> {
    let (i, pgd) = slot_pgd(id)?;
    if i == 0 {
        return Err(AsError::IsMaster);
    }
    if i == current() {
        return Err(AsError::IsCurrent(i));
    }
    SLOTS[i].pgd.store(0, Relaxed);
    super::free_pages(PhysAddr::new(pgd), 0).expect("a PGD page is an order-0 block");
    Ok(())
}

/// Id of the address space in CR3.
pub fn current() -> usize {
    CURRENT.load(Relaxed)
}

/// What `as list` shows about one address space.
pub struct Info {
    pub id: usize,
    pub pgd: u64,
    pub vmalloc_entries: usize,
    pub faults: u64,
    pub current: bool,
}

pub fn info(id: usize) -> Option<Info> {
    let pgd = SLOTS.get(id)?.pgd.load(Relaxed);
    if pgd == 0 {
        return None;
    }
    // SAFETY: a live PGD; only read.
    let t = unsafe { table(pgd) };
    let vmalloc_entries = VMALLOC_PGD.filter(|&i| !t[i].is_unused()).count();
    Some(Info { id, pgd, vmalloc_entries, faults: SLOTS[id].faults.load(Relaxed), current: id == current() })
}

/// Number of address spaces, the master included.
pub fn count() -> usize {
    SLOTS.iter().filter(|s| s.pgd.load(Relaxed) != 0).count()
}

/// Called from the page-fault handler: copies the master's entry `index`
/// into the current PGD if it is missing there. No locks, no allocation.
/// Returns true if an entry was copied (the access can be retried).
pub fn sync_from_master(index: usize) -> bool {
    // LAB 3 BEGIN: copy master entry `index` into the PGD in CR3 if only the master has it; count the fault
    let cur = current_pgd().start_address().as_u64();
    let master = master_pgd().start_address().as_u64();
    if cur == master {
        return false;
    }
    // SAFETY: CR3 and the master are live PGDs. The handler may interrupt
    // code that holds a reference to another table, never to these entries.
    let (cur_t, master_t) = unsafe { (table(cur), table(master)) };
    if master_t[index].is_unused() || !cur_t[index].is_unused() {
        return false;
    }
    cur_t[index] = master_t[index].clone();
    VMALLOC_FAULTS.fetch_add(1, Relaxed);
    if let Some(slot) = SLOTS.iter().find(|s| s.pgd.load(Relaxed) == cur) {
        slot.faults.fetch_add(1, Relaxed);
    }
    true
    // LAB 3 END
}

/// Whether the PGD in CR3 has top-level entry `index`. The page-fault
/// handler asks before and after `vmalloc_fault`: a retry of a fault
/// whose entry was there before, or is missing after, fixed nothing
/// (mm/fault/retry.rs). Only reads.
pub fn current_has_entry(index: usize) -> bool {
    let cur = current_pgd().start_address().as_u64();
    // SAFETY: CR3 is a live PGD; one entry is read, nothing written.
    let cur_t = unsafe { table(cur) };
    !cur_t[index].is_unused()
}

/// Called when the master gains top-level entry `index` in the vmalloc
/// area: under `eager`, copy it into every address space now.
pub fn on_new_master_entry(index: usize) {
    if strategy() != Strategy::Eager {
        return;
    }
    let master = master_pgd().start_address().as_u64();
    // SAFETY: the master is live; the caller (pgtable, under the vmalloc
    // lock) has finished writing the entry.
    let entry = unsafe { table(master)[index].clone() };
    for pgd in other_pgds() {
        // SAFETY: a live PGD on the list.
        let t = unsafe { table(pgd) };
        if t[index].is_unused() {
            t[index] = entry.clone();
            EAGER_COPIES.fetch_add(1, Relaxed);
        }
    }
}

/// The PGDs of the live address spaces other than the master.
fn other_pgds() -> impl Iterator<Item = u64> {
    SLOTS[1..].iter().map(|s| s.pgd.load(Relaxed)).filter(|&pgd| pgd != 0)
}

/// Switches strategy. Going to `prealloc` fills every vmalloc top-level
/// entry of the master (through `fill`, which allocates the tables under
/// the vmalloc lock) and copies them into all existing address spaces.
pub fn set_strategy(s: Strategy, fill: impl FnOnce() -> Result<u64, AsError>) -> Result<(), AsError> {
    if s == Strategy::Prealloc {
        let pages = fill()?;
        PREALLOC_PAGES.fetch_add(pages, Relaxed);
        let master = master_pgd().start_address().as_u64();
        for pgd in other_pgds() {
            // SAFETY: live PGDs; the master's entries are complete.
            let (t, m) = unsafe { (table(pgd), table(master)) };
            for i in VMALLOC_PGD {
                if t[i].is_unused() {
                    t[i] = m[i].clone();
                }
            }
        }
    }
    STRATEGY.store(s as u8, Relaxed);
    Ok(())
}

/// Bytes of PGD pages held by address spaces other than the master.
pub fn pgd_bytes() -> u64 {
    (count() as u64 - 1) * PAGE_SIZE
}
