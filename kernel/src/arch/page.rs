//! `clear_page`: zeroing one 4 KiB page, the inner loop of `vzalloc`.
//!
//! Linux has several versions (arch/x86/lib/clear_page_64.S) and picks one
//! by CPU feature: `rep stosq`, `rep stosb` where the CPU makes that fast,
//! and `clear_page_orig`, eight plain 8-byte stores per turn of a loop.
//! Mosaic uses the last. On hardware the three are close; under QEMU's
//! TCG, which runs every guest instruction through its translator, each
//! turn of a `rep` prefix is a trip around the translated block, while
//! eight stores in a row run straight through it: about twice as fast
//! (docs/benchmarks.md).

use core::arch::asm;

/// Zeroes the 4096 bytes at `page`.
///
/// # Safety
/// `page` must be 8-byte aligned and valid for writes of 4096 bytes, and
/// nothing else may be reading or writing them meanwhile.
pub unsafe fn clear_page(page: *mut u8) {
    // SAFETY: per the contract; the loop writes exactly 64 * 64 bytes from
    // `page` and touches no other memory and no stack.
    unsafe {
        asm!(
            "2:",
            "mov qword ptr [{p}], {z}",
            "mov qword ptr [{p} + 8], {z}",
            "mov qword ptr [{p} + 16], {z}",
            "mov qword ptr [{p} + 24], {z}",
            "mov qword ptr [{p} + 32], {z}",
            "mov qword ptr [{p} + 40], {z}",
            "mov qword ptr [{p} + 48], {z}",
            "mov qword ptr [{p} + 56], {z}",
            "add {p}, 64",
            "dec {n:e}",
            "jnz 2b",
            p = inout(reg) page => _,
            n = inout(reg) 64u32 => _,
            z = in(reg) 0u64,
            options(nostack),
        );
    }
}
