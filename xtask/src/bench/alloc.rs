//! `cargo xtask bench --part alloc`: Mosaic's page allocator and heap
//! against the peer crates (buddy_system_allocator, talc, rlsf,
//! linked_list_allocator), on the host. The benchmark is its own crate,
//! `alloc-bench/`; this runs its divan benches, then its report of the
//! fragmentation and peak memory each allocator leaves, then the mixed
//! workload's fragmentation over 30 seeds. Results and what
//! they mean: docs/benchmarks.md, "Allocators against the peer crates".

use anyhow::{Context, Result};
use std::process::Command;

/// Runs the three; false if one failed.
pub fn run() -> Result<bool> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let report = ["run", "--release", "-p", "alloc-bench", "--bin", "report"];
    let seeds = [&report[..], &["--", "seeds", "30"]].concat();
    for args in [&["bench", "-p", "alloc-bench"][..], &report[..], &seeds[..]] {
        let status = Command::new(&cargo)
            .current_dir(xtask::root())
            .args(args)
            .status()
            .with_context(|| format!("running cargo {}", args.join(" ")))?;
        if !status.success() {
            return Ok(false);
        }
    }
    Ok(true)
}
