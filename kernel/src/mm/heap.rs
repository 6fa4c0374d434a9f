//! The kernel heap: Rust's `alloc` crate (Box, Vec, String, BTreeMap...)
//! on top of the buddy allocator.
//!
//! Small objects (up to 1 KiB) come from the slab caches in `slab/`, which
//! take whole pages from the buddy allocator; bigger ones get their own block
//! of 2^order pages. Either way the memory is reached through the direct map,
//! so heap addresses are `PAGE_OFFSET + physical address`. Like Linux's
//! kmalloc with GFP_KERNEL, pages come from the Normal zone, falling back to
//! DMA32 and DMA.
//!
//! Above the largest block (4 MiB, where Linux's kmalloc stops and
//! kvmalloc turns to vmalloc), a request gets a run of whole free 4 MiB
//! blocks next to each other (`alloc_contig_blocks_for`, as Linux's
//! `alloc_contig_pages`), or nothing when no such run is free: a `Vec` of
//! 16 MiB stays in the direct map, physically contiguous. Mosaic's own
//! big buffers use vmalloc, which needs no contiguous run.

use super::layout::{phys_to_virt, virt_to_phys};
use super::page::{PageOwner, PAGE_SIZE};
use super::page_alloc::ZoneType;
use super::slab::{CacheStats, Large, PageSource, SlabAllocator, SIZE_CLASSES};
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;
use x86_64::VirtAddr;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap;

static SLABS: Mutex<SlabAllocator> = Mutex::new(SlabAllocator::new());
/// Large allocations currently live, and the pages they hold.
static LARGE_ALLOCS: AtomicU64 = AtomicU64::new(0);
static LARGE_PAGES: AtomicU64 = AtomicU64::new(0);

struct KernelHeap;

/// The slab caches' page supply: order-0 blocks from the buddy allocator.
struct BuddyPages;

impl PageSource for BuddyPages {
    fn alloc_page(&mut self) -> Option<NonNull<u8>> {
        let frame = super::alloc_pages_for(PageOwner::Slab, 0, ZoneType::Normal).ok()?;
        NonNull::new(phys_to_virt(frame.start_address()).as_mut_ptr())
    }

    unsafe fn free_page(&mut self, page: NonNull<u8>) {
        let phys = virt_to_phys(VirtAddr::from_ptr(page.as_ptr()));
        super::free_pages(phys, 0).expect("slab page was allocated as order 0");
    }
}

// SAFETY: `alloc` returns null or a block of at least `layout.size()` bytes
// aligned to `layout.align()` that nothing else uses (a slab object or a
// whole buddy block, reached through the direct map), and `dealloc` gives
// a block back to the allocator that handed it out, chosen by the same
// layout. Both run with interrupts off, under the slab or page-allocator lock.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        without_interrupts(|| {
            if SlabAllocator::class_for(layout).is_some() {
                return SLABS.lock().alloc(layout, &mut BuddyPages).map_or(null_mut(), NonNull::as_ptr);
            }
            let Some(large) = Large::of(layout) else { return null_mut() };
            let got = match large {
                Large::Block(order) => super::alloc_pages_for(PageOwner::Slab, order, ZoneType::Normal),
                Large::Run(n) => super::alloc_contig_blocks_for(PageOwner::Slab, n, ZoneType::Normal),
            };
            match got {
                Ok(frame) => {
                    LARGE_ALLOCS.fetch_add(1, Ordering::Relaxed);
                    LARGE_PAGES.fetch_add(large.pages(), Ordering::Relaxed);
                    phys_to_virt(frame.start_address()).as_mut_ptr()
                }
                Err(_) => null_mut(),
            }
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(ptr) = NonNull::new(ptr) else { return };
        without_interrupts(|| {
            if SlabAllocator::class_for(layout).is_some() {
                // SAFETY: GlobalAlloc's contract: `ptr` came from `alloc`
                // with this layout, which sent it to the slab caches.
                unsafe { SLABS.lock().dealloc(ptr, layout, &mut BuddyPages) };
                return;
            }
            let large = Large::of(layout).expect("alloc served this layout");
            let phys = virt_to_phys(VirtAddr::from_ptr(ptr.as_ptr()));
            match large {
                Large::Block(order) => super::free_pages(phys, order),
                Large::Run(n) => super::free_contig_blocks(phys, n),
            }
            .expect("large heap block was allocated with this layout");
            LARGE_ALLOCS.fetch_sub(1, Ordering::Relaxed);
            LARGE_PAGES.fetch_sub(large.pages(), Ordering::Relaxed);
        })
    }
}

/// What the heap holds, for `slabinfo` and `meminfo`.
pub struct HeapStats {
    pub caches: [CacheStats; SIZE_CLASSES.len()],
    pub large_allocs: u64,
    pub large_pages: u64,
}

impl HeapStats {
    /// Pages held by the slab caches.
    pub fn slab_pages(&self) -> u64 {
        self.caches.iter().map(|c| c.slabs as u64).sum()
    }

    pub fn slab_bytes(&self) -> u64 {
        self.slab_pages() * PAGE_SIZE
    }

    /// Heap objects in use: slab objects handed out plus large blocks.
    /// A leaked object shows here even when no page changes hands (a
    /// slab page with room takes it), which page counts cannot see.
    pub fn objects_in_use(&self) -> u64 {
        self.caches.iter().map(|c| c.objects_in_use as u64).sum::<u64>() + self.large_allocs
    }
}

pub fn stats() -> HeapStats {
    let caches = without_interrupts(|| SLABS.lock().stats());
    HeapStats {
        caches,
        large_allocs: LARGE_ALLOCS.load(Ordering::Relaxed),
        large_pages: LARGE_PAGES.load(Ordering::Relaxed),
    }
}
