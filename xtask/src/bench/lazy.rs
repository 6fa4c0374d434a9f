//! `cargo xtask bench --part lazy`: eager against lazy `vfree` (issue 17,
//! item 1; kernel/src/mm/vmalloc/purge.rs). Two release kernels side by
//! side, one booted with the default `vfree=eager` and one with
//! `vfree=lazy` (BIOS, TCG, qemu64, one vCPU, 1 GiB), run the six
//! allocation cases of test_vmalloc in turn, case by case, so that both
//! see the host in the same phase; `boots` fresh pairs, medians. Each
//! case's TLB flushes come from `vmstat` (`vmap_tlb_flushes`) before and
//! after it. The issue's target: long_busy_list within 1.5x of
//! random_size per loop.

use super::mm::{self, median};
use anyhow::{Context, Result};
use regex::Regex;
use std::time::Duration;
use xtask::session::{Session, TestEnv};

/// The allocation cases: their bit in run_test_mask and their name.
const CASES: [(u32, &str); 6] = [
    (0, "fix_size_alloc_test"),
    (1, "full_fit_alloc_test"),
    (2, "long_busy_list_alloc_test"),
    (3, "random_size_alloc_test"),
    (4, "fix_align_alloc_test"),
    (5, "random_size_align_alloc_test"),
];
const STRATEGIES: [&str; 2] = ["eager", "lazy"];
/// long_busy_list may cost at most this much more than random_size.
const TARGET: f64 = 1.5;

/// `vmap_tlb_flushes` from `vmstat`.
fn flushes(s: &mut Session) -> Result<u64> {
    let lines = s.command("vmstat")?;
    let value = lines.iter().find_map(|l| l.strip_prefix("vmap_tlb_flushes "));
    value.context("no vmap_tlb_flushes in vmstat")?.trim().parse().context("vmap_tlb_flushes is not a number")
}

/// One case on one machine: ns per loop and the TLB flushes it took;
/// None if it did not report a time or said `error:`.
fn measure(s: &mut Session, bit: u32, name: &str, loops: u64) -> Result<Option<(u64, u64)>> {
    let before = flushes(s)?;
    let lines = s.command(&format!("test_vmalloc run_test_mask={} test_loop_count={loops}", 1u32 << bit))?;
    let re = Regex::new(&format!(r"^mosaic: {name} (\d+) ns per loop"))?;
    let ns = lines.iter().find_map(|l| re.captures(l)).and_then(|c| c[1].parse::<u64>().ok());
    match ns {
        Some(ns) if !lines.iter().any(|l| l.starts_with("error:")) => Ok(Some((ns, flushes(s)? - before))),
        _ => Ok(None),
    }
}

/// Boots the pair: the default (eager) and `vfree=lazy`.
fn boot_pair(env: &TestEnv, boot: usize) -> Result<Vec<Session>> {
    let mut pair = Vec::new();
    for strategy in STRATEGIES {
        let cmdline = format!("panic=exit vfree={strategy}");
        pair.push(mm::boot(env, &format!("bench-lazy-{strategy}-{boot}"), &cmdline, Duration::from_secs(3600))?);
    }
    Ok(pair)
}

/// Runs the comparison and prints it; false if a case failed.
pub fn run(env: &TestEnv, loops: u64, boots: usize) -> Result<bool> {
    println!("\n==> eager against lazy vfree: test_vmalloc, {loops} loops, {boots} boots of each, medians");
    // [case][strategy] -> the boots' (ns, flushes)
    let mut got: Vec<[Vec<(u64, u64)>; 2]> = CASES.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    let mut ok = true;
    for boot in 0..boots {
        let mut pair = boot_pair(env, boot)?;
        for (c, &(bit, name)) in CASES.iter().enumerate() {
            for (i, s) in pair.iter_mut().enumerate() {
                match measure(s, bit, name, loops)? {
                    Some(m) => got[c][i].push(m),
                    None => ok = false,
                }
            }
        }
    }
    println!(
        "  {:<30} {:>9} {:>9} {:>11} {:>14} {:>13}",
        "case", "eager ns", "lazy ns", "lazy/eager", "eager flushes", "lazy flushes"
    );
    let mut per_loop = [[0u64; 2]; CASES.len()];
    for (c, &(_, name)) in CASES.iter().enumerate() {
        let ns = [0, 1].map(|i| median(got[c][i].iter().map(|m| m.0).collect()));
        let fl = [0, 1].map(|i| median(got[c][i].iter().map(|m| m.1).collect()));
        per_loop[c] = ns;
        let ratio = if ns[0] > 0 { ns[1] as f64 / ns[0] as f64 } else { f64::NAN };
        println!("  {name:<30} {:>9} {:>9} {ratio:>11.2} {:>14} {:>13}", ns[0], ns[1], fl[0], fl[1]);
    }
    for (i, strategy) in STRATEGIES.iter().enumerate() {
        let (busy, random) = (per_loop[2][i], per_loop[3][i]);
        let ratio = if random > 0 { busy as f64 / random as f64 } else { f64::NAN };
        let verdict = if ratio <= TARGET { "met" } else { "missed" };
        println!("  long_busy_list / random_size, {strategy}: {ratio:.2} (target {TARGET}: {verdict})");
    }
    Ok(ok)
}
