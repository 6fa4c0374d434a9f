//! The backtrace: walking the frame-pointer chain and naming each frame.
//!
//! The kernel is built with frame pointers in every profile
//! (.cargo/config.toml), so every Rust function starts with
//! `push rbp; mov rbp, rsp`: RBP points at the caller's saved RBP, with the
//! return address just above it. Functions of the prebuilt `core` may lack
//! the frame; the chain then skips them. The walk reads only the kernel's
//! own stacks, so a corrupt RBP ends it instead of faulting again.

use super::symbols::{self, Table};
use crate::drivers::serial::emergency_print;
use crate::mm::layout::{KERNEL_STACK_GUARD, KERNEL_STACK_SIZE};
use crate::mm::page::PAGE_SIZE;
use core::ops::Range;

/// Frames printed at most (a runaway recursion has thousands).
const MAX_FRAMES: usize = 24;
/// Frames walked at most, counting the ones a repeat hides.
const MAX_WALK: usize = 8192;

/// The stacks a frame may lie on: the boot stack and the double-fault stack.
fn stacks() -> [Range<u64>; 2] {
    let boot = KERNEL_STACK_GUARD + PAGE_SIZE..KERNEL_STACK_GUARD + PAGE_SIZE + KERNEL_STACK_SIZE;
    let df = crate::arch::gdt::double_fault_stack();
    [boot, df.start.as_u64()..df.end.as_u64()]
}

/// The next frame above `fp`: (its frame pointer, the return address), if
/// `fp` is a plausible frame on one of the stacks.
fn step(fp: u64) -> Option<(u64, u64)> {
    let on_stack = stacks().iter().any(|s| s.start <= fp && fp.checked_add(16).is_some_and(|end| end <= s.end));
    if !fp.is_multiple_of(8) || !on_stack {
        return None;
    }
    // SAFETY: fp..fp+16 lies inside a stack that is always mapped.
    let (next, ret) = unsafe { (*(fp as *const u64), *((fp + 8) as *const u64)) };
    Some((next, ret))
}

/// Prints the backtrace starting at `rip` in the frame whose RBP is `rbp`.
pub fn print(rip: u64, rbp: u64) {
    let table = symbols::table();
    if table.is_none() {
        emergency_print(format_args!("  (no symbol table in this image: addresses only)\n"));
    }
    frame(table, 0, rip, false);
    let (mut fp, mut n, mut shown, mut last, mut repeats) = (rbp, 1usize, 1usize, rip, 0usize);
    while n < MAX_WALK {
        let Some((next, ret)) = step(fp) else { break };
        if ret == 0 {
            break;
        }
        if ret == last {
            repeats += 1;
        } else {
            flush_repeats(repeats);
            repeats = 0;
            if shown == MAX_FRAMES {
                emergency_print(format_args!("  ... (more frames not shown)\n"));
                return;
            }
            frame(table, n, ret, true);
            shown += 1;
        }
        last = ret;
        // Callers' frames lie above (the stack grows down).
        if next <= fp {
            break;
        }
        fp = next;
        n += 1;
    }
    flush_repeats(repeats);
}

fn flush_repeats(repeats: usize) {
    if repeats > 0 {
        emergency_print(format_args!("  ... the frame above repeats {repeats} more times (a recursion)\n"));
    }
}

/// One line: `#n 0x... name+0x.. at file:line`, and the LAB mark. A
/// return address points after the call, so its line is looked up one
/// byte earlier, inside the call instruction.
fn frame(table: Option<Table>, n: usize, addr: u64, is_return: bool) {
    let probe = if is_return { addr.wrapping_sub(1) } else { addr };
    let Some(sym) = table.and_then(|t| t.lookup(probe)) else {
        emergency_print(format_args!("  #{n:<2} {addr:#018x} ?\n"));
        return;
    };
    let offset = sym.offset + u64::from(is_return);
    emergency_print(format_args!("  #{n:<2} {addr:#018x} {}+{offset:#x}", sym.name));
    if let Some((file, line)) = sym.line {
        emergency_print(format_args!(" at {file}:{line}"));
    }
    if let Some(lab) = sym.lab {
        emergency_print(format_args!("  <- LAB {lab} (your code)"));
    }
    emergency_print(format_args!("\n"));
}
