//! The Global Descriptor Table and the Task State Segment.
//!
//! In long mode segmentation is almost gone, but the CPU still needs a code
//! segment for ring 0 and a TSS. The TSS matters here for its Interrupt Stack
//! Table: the double-fault handler runs on a stack of its own, so that a
//! kernel stack overflow (which faults because the stack is exhausted) can
//! still be reported instead of turning into a triple fault and a reset.

use spin::Lazy;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST_INDEX: u16 = 0;
const DOUBLE_FAULT_STACK_SIZE: usize = 5 * 4096;

static mut DOUBLE_FAULT_STACK: [u8; DOUBLE_FAULT_STACK_SIZE] = [0; DOUBLE_FAULT_STACK_SIZE];

static TSS: Lazy<TaskStateSegment> = Lazy::new(|| {
    let mut tss = TaskStateSegment::new();
    // Stacks grow down: the IST entry holds the stack's top, which the
    // System V ABI wants 16-byte aligned.
    let base = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
    tss.interrupt_stack_table[DOUBLE_FAULT_IST_INDEX as usize] =
        (base + DOUBLE_FAULT_STACK_SIZE as u64).align_down(16u64);
    tss
});

/// The double-fault stack's bytes, for `mm::explain`.
pub fn double_fault_stack() -> core::ops::Range<VirtAddr> {
    let base = VirtAddr::from_ptr(&raw const DOUBLE_FAULT_STACK);
    base..base + DOUBLE_FAULT_STACK_SIZE as u64
}

struct Selectors {
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Lazy<(GlobalDescriptorTable, Selectors)> = Lazy::new(|| {
    let mut gdt = GlobalDescriptorTable::new();
    let code = gdt.append(Descriptor::kernel_code_segment());
    let data = gdt.append(Descriptor::kernel_data_segment());
    let tss = gdt.append(Descriptor::tss_segment(&TSS));
    (gdt, Selectors { code, data, tss })
});

/// Loads Mosaic's GDT and TSS, replacing the bootloader's.
pub fn init() {
    let (gdt, sel) = &*GDT;
    gdt.load();
    // SAFETY: the selectors come from the GDT just loaded. SS and the data
    // segments must be reloaded too: `iretq` checks SS against the new GDT.
    unsafe {
        CS::set_reg(sel.code);
        SS::set_reg(sel.data);
        DS::set_reg(sel.data);
        ES::set_reg(sel.data);
        load_tss(sel.tss);
    }
}
