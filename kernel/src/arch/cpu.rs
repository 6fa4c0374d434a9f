//! The CPU features the kernel cannot do without, checked first thing at
//! boot: a CPU that lacks one is refused in one line naming it, instead of
//! failing later in a way that says nothing.
//!
//! What the kernel relies on beyond plain x86_64 (long mode, CPUID, 2 MiB
//! pages and CMPXCHG are in every x86_64 CPU):
//! - NX, the no-execute bit (CPUID 0x8000_0001 EDX bit 20), switched on in
//!   EFER.NXE: the bootloader's page tables and the kernel's own (vmalloc,
//!   the direct map) mark data pages no-execute. Without NXE that bit is a
//!   reserved bit and every access through such an entry faults. In fact a
//!   CPU without NX never gets here: the bootloader switches to its page
//!   tables first and the machine resets there (xtask and the tests say
//!   so; see qemu.rs in xtask). The check stays for a bootloader that
//!   would leave NXE off.
//! - The time-stamp counter (CPUID 1 EDX bit 4): `rdtsc` is the kernel's
//!   fine clock (drivers/tsc.rs); without it the instruction faults on
//!   real hardware and under KVM.
//!
//! PGE (global pages) is used only if present (mm/pgtable.rs).

use core::arch::x86_64::__cpuid;
use x86_64::registers::model_specific::{Efer, EferFlags};

/// A feature the kernel needs and this CPU lacks, in words.
#[derive(Debug, PartialEq, Eq)]
pub struct MissingFeature(pub &'static str);

/// CPUID leaf 1, EDX: the TSC bit.
const CPUID1_EDX_TSC: u32 = 1 << 4;
/// CPUID leaf 0x8000_0001, EDX: the NX bit.
const CPUID_EXT1_EDX_NX: u32 = 1 << 20;

/// Checks the CPU for every feature listed in this module's comment.
pub fn check() -> Result<(), MissingFeature> {
    let leaf1 = __cpuid(1);
    if leaf1.edx & CPUID1_EDX_TSC == 0 {
        return Err(MissingFeature("a time-stamp counter (TSC, CPUID 1 EDX bit 4), which the kernel's clock reads"));
    }
    // Leaf 0x8000_0000 says how far the extended leaves go.
    let max_ext = __cpuid(0x8000_0000).eax;
    let nx = max_ext >= 0x8000_0001 && __cpuid(0x8000_0001).edx & CPUID_EXT1_EDX_NX != 0;
    if !nx || !Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE) {
        return Err(MissingFeature(
            "the no-execute bit switched on (NX, CPUID 0x80000001 EDX bit 20, and EFER.NXE), which the page tables use",
        ));
    }
    Ok(())
}
