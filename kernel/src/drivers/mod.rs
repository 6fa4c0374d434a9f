//! Device drivers: just what a teaching kernel under QEMU needs.

pub mod fw_cfg;
pub mod pit;
pub mod qemu;
pub mod serial;
pub mod tsc;
