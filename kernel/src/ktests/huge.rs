//! In-kernel tests of huge vmalloc mappings (`vmalloc_huge`, 2 MiB PMD
//! leaves, mm/vmalloc/huge.rs and mm/pgtable/huge.rs): leaves when an
//! order-9 block is free, 4 KiB pages when memory is fragmented, contents
//! across a 2 MiB boundary, `vmalloc_to_page` inside a leaf, every page
//! back after `vfree`, ioremap's leaves and their cache bits, and rollback
//! under injected allocation failures.

use crate::ktest::{Test, TestResult};
use crate::mm::layout::{phys_to_virt, PMD_SIZE};
use crate::mm::page::PAGE_SIZE;
use crate::mm::page_alloc::ZoneType;
use crate::mm::pgtable::{self, huge::huge_leaves, master_pgd};
use crate::mm::vmalloc::{self, CacheMode, VmError, VM_ALLOW_HUGE_VMAP, VM_HUGE_PMD};
use crate::mm::{fail_nth, injected_failures, pages_accounted, with_pages};
use crate::{kassert, kassert_eq};
use alloc::vec::Vec;
use x86_64::structures::paging::{PageTableFlags as Flags, PhysFrame};
use x86_64::{PhysAddr, VirtAddr};

pub const TESTS: &[Test] = crate::suite![
    "huge::leaves_when_an_order_9_block_is_free" => leaves_when_free,
    "huge::vfree_gives_every_block_back" => vfree_gives_back,
    "huge::contents_across_the_2mib_boundary" => contents_across_boundary,
    "huge::vmalloc_to_page_inside_a_leaf" => to_page_inside_leaf,
    "huge::falls_back_to_small_pages_when_fragmented" => falls_back_when_fragmented,
    "huge::below_2mib_is_an_ordinary_vmalloc" => below_2mib,
    "huge::ioremap_of_an_aligned_range_uses_leaves" => ioremap_leaves,
    "huge::vrealloc_moves_a_huge_area" => vrealloc_moves,
    "huge::injected_failures_roll_back" => injected_failures_roll_back,
];

const MIB: u64 = 1 << 20;

/// The PMD entry's flags for `addr` in the master, if the walk got there.
fn pmd_flags(addr: VirtAddr) -> Option<Flags> {
    pgtable::walk(master_pgd(), addr).steps[2].map(|s| s.flags)
}

fn is_leaf(addr: VirtAddr) -> bool {
    pmd_flags(addr).is_some_and(|f| f.contains(Flags::PRESENT | Flags::HUGE_PAGE))
}

/// The buddy lists' free blocks per order, with the per-CPU lists drained
/// first so that every free page sits where it merges.
fn buddyinfo() -> [u64; crate::mm::page::NR_ORDERS] {
    with_pages(|p| {
        p.drain_pcp();
        p.nr_free_total()
    })
}

fn leaves_when_free() -> TestResult {
    let leaves = huge_leaves();
    let addr = vmalloc::vmalloc_huge(4 * MIB);
    kassert!(addr.is_ok(), "vmalloc_huge(4 MiB): {:?}", addr);
    let addr = addr.unwrap();
    let huge = vmalloc::area_has_flag(addr, VM_HUGE_PMD) && vmalloc::area_has_flag(addr, VM_ALLOW_HUGE_VMAP);
    let aligned = addr.as_u64().is_multiple_of(PMD_SIZE);
    let both = is_leaf(addr) && is_leaf(addr + PMD_SIZE);
    let counted = huge_leaves() - leaves;
    let guard = pgtable::walk(master_pgd(), addr + 4 * MIB).phys;
    let flags = pmd_flags(addr);
    vmalloc::vfree(addr).unwrap();
    kassert!(huge, "the area is not marked huge (VM_HUGE_PMD, VM_ALLOW_HUGE_VMAP)");
    kassert!(aligned, "a huge area at {:#x}, not on a 2 MiB boundary", addr.as_u64());
    kassert!(both, "the two PMD entries are not leaves: {:?}", flags);
    kassert!(flags.is_some_and(|f| f.contains(Flags::WRITABLE | Flags::NO_EXECUTE | Flags::GLOBAL)));
    kassert_eq!(counted, 2);
    kassert!(guard.is_none(), "the guard page after the leaves is mapped");
    kassert_eq!(huge_leaves(), leaves);
    kassert!(!is_leaf(addr), "the leaf is still there after vfree");
    Ok(())
}

/// One cycle first makes the page tables the area needs (kept, as all
/// vmalloc tables are); the second must leave the buddy lists exactly as
/// they were: each order-9 block back whole.
fn vfree_gives_back() -> TestResult {
    vmalloc::vfree(vmalloc::vmalloc_huge(6 * MIB).unwrap()).unwrap();
    let (before, accounted) = (buddyinfo(), pages_accounted());
    let addr = vmalloc::vmalloc_huge(6 * MIB).unwrap();
    let during = buddyinfo();
    kassert!(vmalloc::area_has_flag(addr, VM_HUGE_PMD), "not mapped huge");
    vmalloc::vfree(addr).unwrap();
    kassert!(during != before, "the allocation changed nothing in the buddy lists");
    kassert_eq!(buddyinfo(), before);
    kassert_eq!(pages_accounted(), accounted);
    Ok(())
}

fn word(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a5a
}

fn contents_across_boundary() -> TestResult {
    let size = 4 * MIB;
    let addr = vmalloc::vmalloc_huge(size).unwrap();
    let words = addr.as_mut_ptr::<u64>();
    for i in 0..size / 8 {
        // SAFETY: the area maps `size` bytes from `addr`.
        unsafe { words.add(i as usize).write_volatile(word(i)) };
    }
    // SAFETY: as above.
    let read = |i: u64| unsafe { words.add(i as usize).read_volatile() };
    let all = (0..size / 8).all(|i| read(i) == word(i));
    // The last word before the boundary and the first after it, through
    // the direct map of the frames vmalloc_to_page names.
    let mut direct = Vec::new();
    for off in [PMD_SIZE - 8, PMD_SIZE, size - 8] {
        let frame = vmalloc::vmalloc_to_page(addr + off).unwrap();
        let at = phys_to_virt(frame.start_address()) + off % PAGE_SIZE;
        // SAFETY: a frame of the live area, through the direct map.
        direct.push((off, unsafe { at.as_ptr::<u64>().read_volatile() }, word(off / 8)));
    }
    vmalloc::vfree(addr).unwrap();
    kassert!(all, "a word of the huge area read back wrong");
    for (off, got, want) in direct {
        kassert_eq!((off, got), (off, want));
    }
    Ok(())
}

fn to_page_inside_leaf() -> TestResult {
    let addr = vmalloc::vmalloc_huge(2 * MIB).unwrap();
    let first = vmalloc::vmalloc_to_page(addr).unwrap();
    let frames: Vec<_> = (0..512).map(|i| vmalloc::vmalloc_to_page(addr + i * PAGE_SIZE)).collect();
    let owner = vmalloc::area_owning(frames[300].unwrap());
    let order = with_pages(|p| p.allocated_order(first.start_address()));
    vmalloc::vfree(addr).unwrap();
    kassert!(first.start_address().as_u64().is_multiple_of(PMD_SIZE), "the block is not 2 MiB aligned");
    kassert_eq!(order, Some(9));
    for (i, f) in frames.iter().enumerate() {
        kassert_eq!((i, *f), (i, Some(first + i as u64)));
    }
    kassert_eq!(owner, Some((addr.as_u64(), "vmalloc")));
    Ok(())
}

/// Leaves no order-9 block free, but hundreds of single pages: pages
/// taken in pairs whose second halves are freed cannot merge.
struct Fragmented {
    blocks: Vec<PhysFrame>,
    singles: Vec<PhysFrame>,
}

impl Fragmented {
    fn new() -> Option<Self> {
        let (mut blocks, mut singles) = (Vec::with_capacity(8192), Vec::with_capacity(2048));
        for _ in 0..2048 {
            singles.push(crate::mm::alloc_pages_buddy(0, ZoneType::Normal).ok()?);
        }
        while let Ok(b) = crate::mm::alloc_pages_buddy(9, ZoneType::Normal) {
            if blocks.len() == blocks.capacity() {
                crate::mm::free_pages_buddy(b.start_address(), 9).ok()?;
                return None;
            }
            blocks.push(b);
        }
        // Every other page back: its buddy is held, so nothing merges.
        let kept = singles.iter().step_by(2).copied().collect::<Vec<_>>();
        for f in singles.iter().skip(1).step_by(2) {
            crate::mm::free_pages_buddy(f.start_address(), 0).ok()?;
        }
        Some(Fragmented { blocks, singles: kept })
    }
}

impl Drop for Fragmented {
    fn drop(&mut self) {
        self.blocks.iter().for_each(|b| crate::mm::free_pages_buddy(b.start_address(), 9).unwrap());
        self.singles.iter().for_each(|f| crate::mm::free_pages_buddy(f.start_address(), 0).unwrap());
    }
}

fn falls_back_when_fragmented() -> TestResult {
    let before = (pages_accounted(), vmalloc::totals().areas);
    let frag = Fragmented::new();
    kassert!(frag.is_some(), "could not fragment memory");
    let order_9_free = buddyinfo()[9..].iter().sum::<u64>();
    let addr = vmalloc::vmalloc_huge(2 * MIB);
    let result = addr.map(|a| {
        let marked = vmalloc::area_has_flag(a, VM_ALLOW_HUGE_VMAP) && !vmalloc::area_has_flag(a, VM_HUGE_PMD);
        let small = pgtable::walk(master_pgd(), a).steps[3].is_some() && !is_leaf(a);
        vmalloc::vfree(a).unwrap();
        (marked, small)
    });
    drop(frag);
    kassert_eq!(order_9_free, 0);
    kassert!(result.is_ok(), "the fallback to 4 KiB pages failed: {:?}", result);
    let (marked, small) = result.unwrap();
    kassert!(marked, "the fallback area is not marked VM_ALLOW_HUGE_VMAP without VM_HUGE_PMD");
    kassert!(small, "the fallback area is not mapped with a PTE table");
    kassert_eq!((pages_accounted(), vmalloc::totals().areas), before);
    Ok(())
}

fn below_2mib() -> TestResult {
    let leaves = huge_leaves();
    let addr = vmalloc::vmalloc_huge(2 * MIB - PAGE_SIZE).unwrap();
    let small = !is_leaf(addr) && !vmalloc::area_has_flag(addr, VM_HUGE_PMD);
    vmalloc::vfree(addr).unwrap();
    kassert!(small, "a request below 2 MiB was mapped with a leaf");
    kassert_eq!(huge_leaves(), leaves);
    kassert_eq!(vmalloc::vmalloc_huge(0), Err(VmError::ZeroSize));
    Ok(())
}

/// Device memory past RAM, 2 MiB aligned (QEMU's PCI hole): never read.
const DEVICE: u64 = 0xfe00_0000;

fn ioremap_leaves() -> TestResult {
    let leaves = huge_leaves();
    for mode in [CacheMode::Uncached, CacheMode::Cached] {
        // 3 MiB: one leaf, then 256 PTEs.
        let addr = vmalloc::ioremap_prot(DEVICE, 3 * MIB, mode);
        kassert!(addr.is_ok(), "ioremap of {DEVICE:#x}: {:?}", addr);
        let addr = addr.unwrap();
        let leaf = pgtable::walk(master_pgd(), addr).steps[2].unwrap();
        let tail = pgtable::walk(master_pgd(), addr + 2 * MIB + 5 * PAGE_SIZE);
        let uncached = Flags::NO_CACHE | Flags::WRITE_THROUGH;
        vmalloc::iounmap(addr).unwrap();
        kassert!(addr.as_u64().is_multiple_of(PMD_SIZE), "the area is not 2 MiB aligned");
        kassert!(leaf.flags.contains(Flags::HUGE_PAGE), "no PMD leaf: {:?}", leaf.flags);
        kassert_eq!(leaf.entry & 0x000f_ffff_ffe0_0000, DEVICE);
        // Bit 12 of a PMD leaf is PAT: neither mode sets it.
        kassert_eq!(leaf.entry & (1 << 12), 0);
        kassert_eq!(leaf.flags.contains(uncached), mode == CacheMode::Uncached);
        let (phys, flags) = tail.phys.unwrap();
        kassert_eq!(phys, PhysAddr::new(DEVICE + 2 * MIB + 5 * PAGE_SIZE));
        kassert!(tail.steps[3].is_some(), "the tail is not mapped with PTEs");
        kassert_eq!(flags.contains(uncached), mode == CacheMode::Uncached);
    }
    kassert_eq!(huge_leaves(), leaves);
    Ok(())
}

fn vrealloc_moves() -> TestResult {
    let before = pages_accounted();
    let addr = vmalloc::vmalloc_huge(2 * MIB).unwrap();
    // SAFETY: the area maps 2 MiB.
    unsafe { addr.as_mut_ptr::<u64>().write_volatile(0xfeed) };
    let (new, how) = vmalloc::vrealloc(addr, MIB).unwrap();
    // SAFETY: the buffer now maps 1 MiB at `new`.
    let kept = unsafe { new.as_ptr::<u64>().read_volatile() };
    vmalloc::vfree(new).unwrap();
    kassert_eq!(how, vmalloc::Resized::Moved { from: addr.as_u64() });
    kassert_eq!(kept, 0xfeed);
    kassert_eq!(pages_accounted(), before);
    Ok(())
}

/// `vmalloc_huge(4 MiB)` with its k-th page allocation failing, for every
/// k it reaches: the answer is an area (the fallback) or out of memory,
/// and once freed, memory and the areas read as before.
fn injected_failures_roll_back() -> TestResult {
    vmalloc::vfree(vmalloc::vmalloc_huge(4 * MIB).unwrap()).unwrap();
    let before = (pages_accounted(), vmalloc::totals().areas, huge_leaves());
    for k in 1..2000 {
        let injected = injected_failures();
        fail_nth(Some(k));
        let result = vmalloc::vmalloc_huge(4 * MIB);
        fail_nth(None);
        let reached = injected_failures() != injected;
        match result {
            Ok(a) => vmalloc::vfree(a).unwrap(),
            Err(e) => {
                kassert_eq!((k, e), (k, VmError::NoMemory));
            }
        }
        kassert_eq!((k, (pages_accounted(), vmalloc::totals().areas, huge_leaves())), (k, before));
        if !reached {
            return Ok(());
        }
    }
    kassert!(false, "vmalloc_huge still reached its 2000th allocation");
    Ok(())
}
