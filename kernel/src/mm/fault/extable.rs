//! Touching memory that may not be mapped, without crashing: exception fixup.
//!
//! The shell's `peek`, `poke` and `touch` dereference addresses a person
//! typed. They do it through the tiny functions below, which all live
//! between two labels. If one of them takes a page fault that the fault
//! handler cannot resolve, the handler does not oops: it sees that the
//! faulting instruction lies in this probe region and resumes at
//! `mosaic_probe_fixup` instead, which returns "faulted" to the caller.
//! Linux does the same for `copy_from_user` with its exception tables.
//!
//! Each probe function is a leaf (no stack frame of its own), so the fixup
//! can simply `ret` to the caller.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::VirtAddr;

global_asm!(
    ".pushsection .text.mosaic_probe, \"ax\"",
    ".global mosaic_probe_begin",
    "mosaic_probe_begin:",
    "mosaic_read8:  xor edx, edx; movzx eax, byte ptr [rdi]; ret",
    "mosaic_read16: xor edx, edx; movzx eax, word ptr [rdi]; ret",
    "mosaic_read32: xor edx, edx; mov eax, dword ptr [rdi]; ret",
    "mosaic_read64: xor edx, edx; mov rax, qword ptr [rdi]; ret",
    "mosaic_write8:  xor edx, edx; mov byte ptr [rdi], sil; xor eax, eax; ret",
    "mosaic_write16: xor edx, edx; mov word ptr [rdi], si; xor eax, eax; ret",
    "mosaic_write32: xor edx, edx; mov dword ptr [rdi], esi; xor eax, eax; ret",
    "mosaic_write64: xor edx, edx; mov qword ptr [rdi], rsi; xor eax, eax; ret",
    ".global mosaic_probe_end",
    "mosaic_probe_end:",
    ".global mosaic_probe_fixup",
    "mosaic_probe_fixup: mov edx, 1; xor eax, eax; ret",
    ".global mosaic_read8, mosaic_read16, mosaic_read32, mosaic_read64",
    ".global mosaic_write8, mosaic_write16, mosaic_write32, mosaic_write64",
    ".popsection",
);

/// What a probe returns in RAX:RDX.
#[repr(C)]
struct Probe {
    value: u64,
    faulted: u64,
}

extern "sysv64" {
    fn mosaic_read8(addr: u64) -> Probe;
    fn mosaic_read16(addr: u64) -> Probe;
    fn mosaic_read32(addr: u64) -> Probe;
    fn mosaic_read64(addr: u64) -> Probe;
    fn mosaic_write8(addr: u64, value: u64) -> Probe;
    fn mosaic_write16(addr: u64, value: u64) -> Probe;
    fn mosaic_write32(addr: u64, value: u64) -> Probe;
    fn mosaic_write64(addr: u64, value: u64) -> Probe;
    static mosaic_probe_begin: u8;
    static mosaic_probe_end: u8;
    static mosaic_probe_fixup: u8;
}

/// The fault a probe took: address (CR2) and error code.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    pub addr: u64,
    pub error_code: u64,
}

static LAST_ADDR: AtomicU64 = AtomicU64::new(0);
static LAST_CODE: AtomicU64 = AtomicU64::new(0);

/// Called by the page-fault handler for a fault it could not resolve: if
/// the faulting instruction is a probe's, records the fault and returns
/// where to resume.
pub fn fixup(rip: VirtAddr, addr: u64, error_code: u64) -> Option<VirtAddr> {
    // Only the labels' addresses are taken, which is safe.
    let (begin, end, fixup) = (
        &raw const mosaic_probe_begin as u64,
        &raw const mosaic_probe_end as u64,
        &raw const mosaic_probe_fixup as u64,
    );
    if !(begin..end).contains(&rip.as_u64()) {
        return None;
    }
    LAST_ADDR.store(addr, Ordering::Relaxed);
    LAST_CODE.store(error_code, Ordering::Relaxed);
    Some(VirtAddr::new(fixup))
}

fn last_fault() -> Fault {
    Fault { addr: LAST_ADDR.load(Ordering::Relaxed), error_code: LAST_CODE.load(Ordering::Relaxed) }
}

/// Reads `bytes` (1, 2, 4 or 8) bytes at `addr`; a page fault that is not
/// a lazy vmalloc fault comes back as `Err`.
pub fn read(addr: VirtAddr, bytes: u64) -> Result<u64, Fault> {
    let a = addr.as_u64();
    // SAFETY: the probes only load from `a`; a fault is caught (see above).
    let p = unsafe {
        match bytes {
            1 => mosaic_read8(a),
            2 => mosaic_read16(a),
            4 => mosaic_read32(a),
            _ => mosaic_read64(a),
        }
    };
    if p.faulted == 0 {
        Ok(p.value)
    } else {
        Err(last_fault())
    }
}

/// Writes the low `bytes` bytes of `value` at `addr`.
///
/// # Safety
/// Writing arbitrary kernel memory can break the kernel in any way; only
/// page faults are caught.
pub unsafe fn write(addr: VirtAddr, bytes: u64, value: u64) -> Result<(), Fault> {
    let a = addr.as_u64();
    // SAFETY: per the caller's contract.
    let p = unsafe {
        match bytes {
            1 => mosaic_write8(a, value),
            2 => mosaic_write16(a, value),
            4 => mosaic_write32(a, value),
            _ => mosaic_write64(a, value),
        }
    };
    if p.faulted == 0 {
        Ok(())
    } else {
        Err(last_fault())
    }
}
