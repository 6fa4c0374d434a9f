//! Mosaic: a small x86_64 kernel for studying Linux-style memory management.
//!
//! Module map (one topic per module):
//! - `arch`    CPU tables (GDT, IDT), exception entry and handlers, interrupt controller
//! - `oops`    what a dying kernel prints: registers, backtrace, the fault's address
//! - `drivers` serial port, timer, QEMU's fw_cfg and exit devices
//! - `mm`      the memory manager: layout, buddy allocator, kernel heap
//! - `shell`   the serial console: line editor, parser, command table
//! - `boot`    the bring-up order; `boot_info` the bootloader's record
//! - `ktest`   the in-kernel test runner; `ktests` every in-kernel suite
//! - `bench`   the soak test, test_vmalloc and pgd_bench (import mm only)
//! - `message` a fixed-buffer error message, shared by shell and bench
//! - `lab`     lab functions a student skeleton has not written yet (`lab_missing!`)
//! - `cmdline` the kernel options and their checks (fw_cfg reads them)
//!
//! Dependencies run one way: `mm` imports nothing above it (see the rules
//! at the top of mm/mod.rs); `bench` imports mm and drivers; `shell`
//! imports mm and bench; `ktests` may import anything; `boot` ties it up.
//!
//! Modules that touch hardware are compiled only for the bare-metal target;
//! the rest also builds on the host so it can be unit-tested there. Each
//! such module has its own `#[cfg(target_os = "none")]` (not a `cfg_if!`
//! block, which rustfmt does not look into and through which `drivers` and
//! `ktest` could not export `println!` and `kassert!`).

#![cfg_attr(not(test), no_std)]
#![cfg_attr(target_os = "none", feature(abi_x86_interrupt))]
// The habits, enforced (CI runs clippy with -D warnings): every unsafe
// operation sits in an unsafe block with its own SAFETY comment, even
// inside an unsafe fn.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
// A command's error is a 168-byte fixed buffer on purpose: reporting an
// error must never need the heap, which may be what failed.
#![allow(clippy::result_large_err)]

extern crate alloc;

pub mod cmdline;
pub mod lab;
pub mod message;
pub mod mm;
pub mod oops;
pub mod rand;
pub mod shell;

#[cfg(target_os = "none")]
pub mod arch;
#[cfg(target_os = "none")]
pub mod bench;
#[cfg(target_os = "none")]
pub mod boot;
#[cfg(target_os = "none")]
pub mod boot_info;
#[cfg(target_os = "none")]
pub mod drivers;
#[cfg(target_os = "none")]
pub mod ktest;
#[cfg(target_os = "none")]
pub mod ktests;
#[cfg(target_os = "none")]
pub mod logger;
#[cfg(target_os = "none")]
mod panic;
