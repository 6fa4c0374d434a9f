//! `cargo xtask bench --linux`: Mosaic's test_vmalloc against Linux's own,
//! booted in the same QEMU configuration in the same run.
//!
//! TCG timings drift by 10-30% between runs and between phases of a host,
//! so a Linux figure measured on another day says little. Here Linux and
//! Mosaic boot alternately (Linux 6.1, Linux 6.12, Mosaic, Linux 6.1, ...),
//! each runs every case once per boot, and each case's median over the
//! boots is compared. Linux comes from the distribution's packages
//! (`xtask::linux`): the default kernel (6.1), against which the
//! allocation cases are judged, and the newest 6.12, whose test_vmalloc
//! has vm_map_ram_test. Without the first the bench says why and runs
//! against the stored figures; without the second, with 6.1 alone.

use super::{cases_only, group, Allocator, Case, Measured, CASES, EXPECTED_TO_FAIL};
use anyhow::Result;
use std::collections::BTreeMap;
use xtask::linux::{self, Kit, Summary};
use xtask::session::TestEnv;

/// Runs `boots` boots of each, `loops` loops per case; false if a case
/// failed or a target was missed.
pub fn run(env: &TestEnv, loops: u64, boots: usize, lazy: bool) -> Result<bool> {
    let kit = match linux::prepare(linux::DEFAULT_IMAGE) {
        Ok(kit) => kit,
        Err(e) => {
            eprintln!("xtask: bench --linux: no Linux to compare with in this run: {e:#}");
            eprintln!("xtask: bench --linux: falling back to the stored Linux figures (measured on another day)");
            return Ok(super::vmalloc(env, &[Allocator::Tree], Some(loops))?.is_empty());
        }
    };
    let mut kits = vec![kit];
    match linux::prepare(linux::IMAGE_6_12) {
        Ok(newer) if newer.release != kits[0].release => kits.push(newer),
        Ok(_) => {}
        Err(e) => eprintln!("xtask: bench --linux: no Linux 6.12 in this run, 6.1 only: {e:#}"),
    }
    let mut on_linux: Vec<Vec<Vec<Summary>>> = vec![Vec::new(); kits.len()];
    let mut on_mosaic = Vec::new();
    for boot in 1..=boots {
        for (k, kit) in kits.iter().enumerate() {
            eprintln!("\n==> boot {boot} of {boots}: Linux {} ({loops} loops per case)", kit.release);
            let mask = CASES.iter().filter(|c| linux::has_case(&kit.release, c.bit)).fold(0, |m, c| m | 1 << c.bit);
            let summaries = linux::measure(kit, &env.qemu, &env.qemu_args, mask, loops)?;
            for s in &summaries {
                eprintln!("    {:<30} {:>11} ns per loop", s.name, group(s.ns_per_loop));
            }
            on_linux[k].push(summaries);
        }
        eprintln!("==> boot {boot} of {boots}: Mosaic");
        on_mosaic.push(cases_only(env, loops, lazy)?);
    }
    if lazy {
        println!(
            "\nMosaic ran with `vfree lazy` (Linux's own strategy); the targets are judged on its default, eager."
        );
    }
    Ok(print(&kits, loops, &on_linux, &on_mosaic))
}

/// Whether a Linux case did what it should (align_shift is meant to fail).
fn linux_ok(s: &Summary) -> bool {
    if s.name == EXPECTED_TO_FAIL {
        s.passed == 0 && s.failed + s.xfailed > 0
    } else {
        s.failed == 0 && s.passed > 0
    }
}

/// The target of a case: how many times faster than which Linux (an
/// index into the kits). The allocation cases (bits 0-5) are judged
/// against the distribution's default kernel (6.1), 4x; vm_map_ram_test
/// against the newest kernel that has it (6.12), 3x; the rest has none.
fn target(case: &Case, kits: &[Kit]) -> Option<(f64, usize)> {
    match case.bit {
        0..=5 => Some((4.0, 0)),
        10 => kits.iter().rposition(|k| linux::has_case(&k.release, case.bit)).map(|k| (3.0, k)),
        _ => None,
    }
}

/// One row of the table: per kit the Linux median and its ratio.
struct Row {
    linux: Vec<Option<u64>>,
    ratios: Vec<Option<f64>>,
    mosaic: Option<u64>,
    failed: bool,
}

fn row(index: usize, case: &Case, linux_runs: &[Vec<Vec<Summary>>], mosaic_runs: &[Vec<Option<Measured>>]) -> Row {
    let m: Vec<&Measured> = mosaic_runs.iter().filter_map(|r| r.get(index).and_then(Option::as_ref)).collect();
    let mut failed = m.iter().any(|x| !x.ok) || m.len() < mosaic_runs.len();
    let mosaic = linux::median(m.iter().map(|x| x.ns_per_loop).collect());
    let mut linux_medians = Vec::new();
    for runs in linux_runs {
        let l: Vec<&Summary> = runs.iter().flatten().filter(|s| s.name == case.name).collect();
        failed |= l.iter().any(|s| !linux_ok(s));
        linux_medians.push(linux::median(l.iter().map(|s| s.ns_per_loop).collect()));
    }
    // align_shift fails on purpose, and Linux's makes one pass over the
    // alignments whatever the loop count: its time per loop is not the
    // same work as Mosaic's.
    let comparable = case.name != EXPECTED_TO_FAIL;
    let ratios = linux_medians
        .iter()
        .map(|l| match (l, mosaic) {
            (Some(a), Some(b)) if b > 0 && comparable => Some(*a as f64 / b as f64),
            _ => None,
        })
        .collect();
    Row { linux: linux_medians, ratios, mosaic, failed }
}

/// The table: medians, ratios and the targets of docs/benchmarks.md (every
/// allocation case at least 4x Linux 6.1's speed, vm_map_ram_test 3x Linux
/// 6.12's; long_busy_list within 1.5x of random_size).
fn print(kits: &[Kit], loops: u64, linux_runs: &[Vec<Vec<Summary>>], mosaic_runs: &[Vec<Option<Measured>>]) -> bool {
    let names: Vec<String> = kits.iter().map(|k| k.release.clone()).collect();
    println!(
        "\nLinux {} and Mosaic (tree allocator, release) in the same run: {} boots each, alternating;",
        names.join(" and Linux "),
        mosaic_runs.len()
    );
    println!("{loops} loops per case; QEMU TCG, qemu64, 1 vCPU, 1 GiB; medians, ns per loop; ratio = Linux / Mosaic");
    let mut header = format!("\n{:<30}", "test");
    for kit in kits {
        header += &format!(" {:>11}", format!("Linux {}", kit.series()));
    }
    header += &format!(" {:>11}", "Mosaic");
    for kit in kits {
        header += &format!(" {:>6}", format!("/{}", kit.series()));
    }
    println!("{header}  target");
    let mut all_ok = true;
    let mut mosaic_medians = BTreeMap::new();
    for (i, case) in CASES.iter().enumerate() {
        let r = row(i, case, linux_runs, mosaic_runs);
        if let Some(v) = r.mosaic {
            mosaic_medians.insert(case.name, v);
        }
        let verdict = match target(case, kits) {
            _ if r.failed => "a run FAILED".to_string(),
            Some((times, k)) => match r.ratios[k] {
                Some(ratio) if ratio >= times => format!("{times}x vs {}: met", kits[k].series()),
                Some(_) => format!("{times}x vs {}: MISSED", kits[k].series()),
                None => "not in this Linux".to_string(),
            },
            None if r.linux.iter().all(Option::is_none) => "not in this Linux".to_string(),
            None => "-".to_string(),
        };
        all_ok &= !r.failed && !verdict.ends_with("MISSED");
        let show = |v: &Option<u64>| v.map_or("-".to_string(), group);
        let mut line = format!("{:<30}", case.name);
        for l in &r.linux {
            line += &format!(" {:>11}", show(l));
        }
        line += &format!(" {:>11}", show(&r.mosaic));
        for ratio in &r.ratios {
            line += &format!(" {:>6}", ratio.map_or("-".to_string(), |r| format!("{r:.1}x")));
        }
        println!("{line}  {verdict}");
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
