//! `cargo xtask bench --linux`: Mosaic's test_vmalloc against Linux's own,
//! booted in the same QEMU configuration in the same run.
//!
//! TCG timings drift by 10-30% between runs and between phases of a host,
//! so a Linux figure measured on another day says little. Here Linux and
//! Mosaic boot alternately (Linux, Mosaic, Linux, Mosaic, ...), each runs
//! every case once per boot, and each case's median over the boots is
//! compared. Linux comes from the distribution's packages (`xtask::linux`);
//! without them the bench says why and runs against the stored figures.

use super::{cases_only, group, Allocator, Measured, CASES, EXPECTED_TO_FAIL};
use anyhow::Result;
use std::collections::BTreeMap;
use xtask::linux::{self, Kit, Summary};
use xtask::session::TestEnv;

/// Runs `boots` boots of each, `loops` loops per case; false if a case
/// failed or a target was missed.
pub fn run(env: &TestEnv, loops: u64, boots: usize) -> Result<bool> {
    let kit = match linux::prepare() {
        Ok(kit) => kit,
        Err(e) => {
            eprintln!("xtask: bench --linux: no Linux to compare with in this run: {e:#}");
            eprintln!("xtask: bench --linux: falling back to the stored Linux figures (measured on another day)");
            return Ok(super::vmalloc(env, &[Allocator::Tree], Some(loops))?.is_empty());
        }
    };
    let mask = CASES.iter().filter(|c| linux::has_case(&kit.release, c.bit)).fold(0, |m, c| m | 1 << c.bit);
    let (mut on_linux, mut on_mosaic) = (Vec::new(), Vec::new());
    for boot in 1..=boots {
        eprintln!("\n==> boot {boot} of {boots}: Linux {} ({loops} loops per case)", kit.release);
        let summaries = linux::measure(&kit, &env.qemu, &env.qemu_args, mask, loops)?;
        for s in &summaries {
            eprintln!("    {:<30} {:>11} ns per loop", s.name, group(s.ns_per_loop));
        }
        on_linux.push(summaries);
        eprintln!("==> boot {boot} of {boots}: Mosaic");
        on_mosaic.push(cases_only(env, loops)?);
    }
    Ok(print(&kit, loops, &on_linux, &on_mosaic))
}

/// Whether a Linux case did what it should (align_shift is meant to fail).
fn linux_ok(s: &Summary) -> bool {
    if s.name == EXPECTED_TO_FAIL {
        s.passed == 0 && s.failed > 0
    } else {
        s.failed == 0 && s.passed > 0
    }
}

/// The table: medians, ratios and the targets of docs/benchmarks.md (every
/// allocation case at least 4x Linux's speed; long_busy_list within 1.5x
/// of random_size).
fn print(kit: &Kit, loops: u64, linux_runs: &[Vec<Summary>], mosaic_runs: &[Vec<Option<Measured>>]) -> bool {
    println!(
        "\nLinux {} and Mosaic (tree allocator, release) in the same run: {} boots each, alternating;",
        kit.release,
        linux_runs.len()
    );
    println!("{loops} loops per case; QEMU TCG, qemu64, 1 vCPU, 1 GiB; medians, ns per loop; ratio = Linux / Mosaic");
    println!("\n{:<32} {:>12} {:>12} {:>7}  target", "test", "Linux", "Mosaic", "ratio");
    let mut all_ok = true;
    let mut mosaic_medians = BTreeMap::new();
    for (i, case) in CASES.iter().enumerate() {
        let l: Vec<&Summary> = linux_runs.iter().flatten().filter(|s| s.name == case.name).collect();
        let m: Vec<&Measured> = mosaic_runs.iter().filter_map(|r| r.get(i).and_then(Option::as_ref)).collect();
        let failed = l.iter().any(|s| !linux_ok(s)) || m.iter().any(|x| !x.ok) || m.len() < mosaic_runs.len();
        let lm = linux::median(l.iter().map(|s| s.ns_per_loop).collect());
        let mm = linux::median(m.iter().map(|x| x.ns_per_loop).collect());
        if let Some(v) = mm {
            mosaic_medians.insert(case.name, v);
        }
        let ratio = match (lm, mm) {
            (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
            _ => None,
        };
        // Bits 0-5 are the allocation cases the 4x target is about.
        let verdict = match ratio {
            _ if failed => "a run FAILED",
            None if lm.is_none() => "not in this Linux",
            Some(r) if case.bit <= 5 && r >= 4.0 => "4x: met",
            Some(_) if case.bit <= 5 => "4x: MISSED",
            _ => "-",
        };
        all_ok &= !failed && verdict != "4x: MISSED";
        let show = |v: Option<u64>| v.map_or("-".to_string(), group);
        let r = ratio.map_or("-".to_string(), |r| format!("{r:.1}x"));
        println!("{:<32} {:>12} {:>12} {:>7}  {verdict}", case.name, show(lm), show(mm), r);
    }
    if let (Some(busy), Some(random)) =
        (mosaic_medians.get("long_busy_list_alloc_test"), mosaic_medians.get("random_size_alloc_test"))
    {
        let ratio = *busy as f64 / (*random).max(1) as f64;
        let met = ratio <= 1.5;
        all_ok &= met;
        println!(
            "\nMosaic long_busy_list / random_size = {ratio:.2} (target <= 1.5): {}",
            if met { "met" } else { "MISSED" }
        );
    }
    all_ok
}
