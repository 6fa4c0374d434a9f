//! In-kernel tests of `mm::explain` for what the shell cannot reach (heap
//! objects, page tables, statics, the double-fault stack) and of the
//! vmalloc overrun check's counter; and that the walk the oops prints
//! stops at a corrupt entry instead of reading through it.

use crate::ktest::{Test, TestResult};
use crate::mm::explain::{describe, Frame, What};
use crate::mm::layout::phys_to_virt;
use crate::mm::{pgtable, redzone, vmalloc};
use crate::{kassert, kassert_eq};
use alloc::boxed::Box;
use alloc::string::ToString;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use x86_64::VirtAddr;

pub const TESTS: &[Test] = crate::suite![
    "explain::a_heap_object_is_in_its_slab_cache" => heap_object,
    "explain::the_master_pgd_is_a_page_table" => page_table,
    "explain::a_vmalloc_page_through_the_direct_map" => vmalloc_page,
    "explain::statics_and_code_by_section" => sections,
    "explain::the_double_fault_stack" => double_fault_stack,
    "explain::an_overrun_is_counted_and_the_free_completes" => overrun_counted,
    "pgtable::walk_stops_at_an_entry_pointing_outside_ram" => corrupt_entry,
];

/// The direct-map address of `va`'s frame, through the current tables.
fn direct(va: VirtAddr) -> u64 {
    let (phys, _) = pgtable::translate(va).expect("mapped");
    phys_to_virt(phys).as_u64()
}

fn heap_object() -> TestResult {
    let obj = Box::new([7u8; 64]);
    let e = describe(direct(VirtAddr::from_ptr(&*obj)));
    kassert!(matches!(e.what, What::DirectMap { frame: Frame::Slab { .. }, .. }), "{e}");
    kassert!(e.to_string().contains("kmalloc-64"), "{e}");
    Ok(())
}

fn page_table() -> TestResult {
    let pgd = phys_to_virt(pgtable::master_pgd().start_address()).as_u64() + 8;
    let e = describe(pgd);
    kassert!(matches!(e.what, What::DirectMap { frame: Frame::PageTable, .. }), "{e}");
    Ok(())
}

fn vmalloc_page() -> TestResult {
    let a = vmalloc::vmalloc(8192).expect("8 KiB");
    let e = describe(direct(a + 4096u64));
    let ok = matches!(e.what, What::DirectMap { frame: Frame::VmallocPage { start, .. }, .. } if start == a.as_u64());
    vmalloc::vfree(a).expect("just allocated");
    kassert!(ok, "{e}");
    Ok(())
}

static DATA: AtomicU64 = AtomicU64::new(1);
static RODATA: [u64; 2] = [1, 2];

fn sections() -> TestResult {
    let text = describe(sections as fn() -> TestResult as usize as u64).to_string();
    let data = describe(&DATA as *const AtomicU64 as u64).to_string();
    let rodata = describe(RODATA.as_ptr() as u64).to_string();
    DATA.fetch_add(1, Relaxed);
    kassert_eq!(text.as_str(), "kernel text");
    kassert_eq!(data.as_str(), "kernel data");
    kassert_eq!(rodata.as_str(), "kernel rodata");
    Ok(())
}

fn double_fault_stack() -> TestResult {
    let stack = crate::arch::gdt::double_fault_stack();
    let e = describe(stack.end.as_u64() - 16);
    kassert!(matches!(e.what, What::DoubleFaultStack { from_top: 16 }), "{e}");
    Ok(())
}

fn overrun_counted() -> TestResult {
    let was = redzone::enabled();
    redzone::set_enabled(true);
    let before = vmalloc::totals().overruns;
    let a = vmalloc::vmalloc(100).expect("100 bytes");
    // SAFETY: byte 150 lies in the area's first (and only) mapped page,
    // past the 100 bytes asked for: the redzone this test hits.
    unsafe { a.as_mut_ptr::<u8>().add(150).write_volatile(0) };
    let freed = vmalloc::vfree(a);
    redzone::set_enabled(was);
    kassert!(freed.is_ok(), "{freed:?}");
    kassert_eq!(vmalloc::totals().overruns, before + 1);
    Ok(())
}

/// A PGD (a heap page, never loaded in CR3) whose entry 0 points far
/// beyond RAM: the walk must stop there, not read a "table" at that
/// address (the oops walks CR2 in tables that may be corrupt).
fn corrupt_entry() -> TestResult {
    use x86_64::structures::paging::{PageTable, PageTableFlags as Flags, PhysFrame};
    use x86_64::PhysAddr;
    let mut table = Box::new(PageTable::new());
    table[0].set_addr(PhysAddr::new(0xfd_0000_0000), Flags::PRESENT | Flags::WRITABLE);
    let (phys, _) = pgtable::translate(VirtAddr::from_ptr(&*table)).expect("the heap is mapped");
    let walk = pgtable::walk(PhysFrame::containing_address(phys), VirtAddr::new(0x1000));
    kassert_eq!(walk.bad, Some("PGD"));
    kassert!(walk.phys.is_none() && walk.steps[1].is_none(), "the walk went past the corrupt entry");
    Ok(())
}
