//! `crash <kind>`: crashes the kernel on purpose, one way per kind, to see
//! the oops each prints (docs/debugging.md reads one) and to test it
//! (tests/crash.rs). Every kind that faults first puts `MARKER` in R12, so
//! a test can find a known value in the register dump.

use super::CmdError;
use crate::{bail, mm};

/// The value R12 holds when a `crash` faults: easy to spot in the oops.
pub const MARKER: u64 = 0x00c0_ffee_dead_beef;

/// The kinds, for the error message and `help`.
const KINDS: &str = "panic, null, write-rodata, ud, gp, overflow, vmalloc-guard, triple-fault";

/// Lives in .rodata (read-only): `crash write-rodata` writes to it.
static READ_ONLY: u64 = 0x5eed;

/// `crash <kind>`: never returns for a known kind.
pub fn crash(args: &[&str]) -> Result<(), CmdError> {
    match args[0] {
        "panic" => panic!("crash: a deliberate panic from the shell"),
        "null" => read_at(0),
        "write-rodata" => write_at(&raw const READ_ONLY as u64),
        "ud" => invalid_opcode(),
        "gp" => read_at(0x8000_0000_0000_0000),
        "overflow" => {
            overflow(0);
        }
        "vmalloc-guard" => {
            let area = mm::vmalloc::vmalloc(4096).map_err(CmdError::from_display)?;
            // One page, then the guard page.
            write_at(area.as_u64() + 4096);
        }
        "triple-fault" => triple_fault(),
        other => bail!("unknown crash kind '{}' (one of: {KINDS})", super::parse::Shown(other)),
    }
    bail!("the crash did not happen")
}

/// Loads an empty IDT, then raises a breakpoint. The CPU cannot find the
/// breakpoint's gate, so it raises a #GP, whose gate it cannot find either,
/// so a double fault, and failing that too it shuts down: a triple fault,
/// which a PC turns into a reset. No oops can be printed: nothing of the
/// kernel runs any more. (QEMU with `-no-reboot` exits instead.)
fn triple_fault() -> ! {
    let empty = x86_64::structures::DescriptorTablePointer { limit: 0, base: x86_64::VirtAddr::zero() };
    // SAFETY: deliberately makes every exception undeliverable and raises
    // one; the machine resets and nothing after this runs.
    unsafe {
        x86_64::instructions::tables::lidt(&empty);
        core::arch::asm!("int3", options(noreturn));
    }
}

/// Loads from `addr` with R12 = MARKER: a page fault (or #GP for a
/// non-canonical address).
#[inline(never)]
fn read_at(addr: u64) {
    // SAFETY: deliberately faults; the oops ends the kernel.
    unsafe {
        core::arch::asm!("mov {a}, qword ptr [{a}]", a = inout(reg) addr => _, in("r12") MARKER, options(nostack));
    }
}

/// Stores to `addr` with R12 = MARKER.
#[inline(never)]
fn write_at(addr: u64) {
    // SAFETY: deliberately faults; the oops ends the kernel.
    unsafe {
        core::arch::asm!("mov qword ptr [{a}], r12", a = in(reg) addr, in("r12") MARKER, options(nostack));
    }
}

#[inline(never)]
fn invalid_opcode() {
    // SAFETY: deliberately executes an undefined instruction.
    unsafe { core::arch::asm!("ud2", in("r12") MARKER, options(nostack)) };
}

/// Recurses until the stack runs into its guard page: the page fault
/// cannot push its frame, so the CPU raises a double fault, which runs on
/// its own stack.
#[inline(never)]
#[allow(unconditional_recursion)]
fn overflow(depth: u64) -> u64 {
    let mut pad = [depth; 64];
    core::hint::black_box(&mut pad);
    overflow(depth + 1) + pad[1]
}
