//! `cargo xtask bench`: its arguments, and which benchmarks run. The
//! benchmarks themselves are in `bench/`.

use crate::bench::{self, Allocator};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use std::process::ExitCode;

#[derive(Args)]
pub struct BenchArgs {
    /// Loops per test case for both allocators (default: 1000000 for the
    /// tree, 100000 for the list)
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=i32::MAX as u64))]
    loops: Option<u64>,
    /// Benchmark one allocator only
    #[arg(long, value_enum)]
    only: Option<Allocator>,
    /// Which benchmarks: test_vmalloc, the PGD-sync strategies, the soak,
    /// the host allocators against the peer crates, the boot time (not in
    /// `all`), the vmalloc overrun check on against off (not in `all`),
    /// memmap and vmmap on a 16 GiB machine (not in `all`), the live
    /// view's redraw on a 16 GiB machine (not in `all`), 2 MiB vmalloc
    /// leaves against 4 KiB pages (not in `all`; --loops sets its rounds),
    /// eager against lazy vfree (not in `all`; `--loops`, default 100000,
    /// and `--boots`), the exact per-function instruction profile of one
    /// test_vmalloc case (not in `all`; `--case`, and `--loops N`, default
    /// 1000, the loops the two runs differ by)
    #[arg(long, value_enum, default_value = "all")]
    part: Part,
    /// The test_vmalloc case that `--part profile` profiles, e.g.
    /// fix_size_alloc_test
    #[arg(long)]
    case: Option<String>,
    /// Operations of the soak
    #[arg(long, default_value_t = 10_000_000)]
    soak_ops: u64,
    /// Compare test_vmalloc with Linux's own, 6.1 and 6.12, booted in the
    /// same QEMU in the same run (Debian's kernel packages, fetched with
    /// apt-get download; 6.1 alone without 6.12's, the stored figures
    /// without any)
    #[arg(long)]
    linux: bool,
    /// With --linux: how Mosaic frees (its default is eager; Linux's is
    /// the lazy purge)
    #[arg(long, value_enum, default_value = "eager", requires = "linux")]
    vfree: Vfree,
    /// Boots of each kernel with --linux and --part lazy (medians are
    /// compared)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=25))]
    boots: u64,
    /// Count guest instructions instead of time: QEMU's `-icount
    /// shift=0,sleep=off` makes one virtual nanosecond one executed
    /// instruction, so every "ns" figure becomes an instruction count that
    /// is the same on every run and every host (for A/B comparisons of
    /// code changes; TLB misses and I/O cost nothing in it)
    #[arg(long)]
    icount: bool,
}

/// QEMU's deterministic instruction counting (`--icount`).
const ICOUNT: [&str; 2] = ["-icount", "shift=0,sleep=off"];

/// Mosaic's vfree strategy in a `--linux` run.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Vfree {
    Eager,
    Lazy,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Part {
    All,
    Vmalloc,
    Pgd,
    Soak,
    Alloc,
    Boot,
    Redzone,
    Maps,
    View,
    Huge,
    Lazy,
    Profile,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if args.icount && matches!(args.part, Part::Boot | Part::View) {
        bail!("--icount counts guest instructions; --part boot and --part view measure the host's time");
    }
    if args.case.is_some() != (args.part == Part::Profile) {
        bail!("--case goes with --part profile, and --part profile needs --case <test_vmalloc case>");
    }
    if let Some(case) = &args.case {
        // Refused before the images are built and the machines boot.
        bench::profile::case_bit(case)?;
    }
    if args.part == Part::Boot {
        return Ok(if bench::boot::run()? { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let env = || -> Result<xtask::session::TestEnv> {
        let mut env = bench::env()?;
        if args.icount {
            println!("bench: --icount: every ns figure below is a count of guest instructions (QEMU -icount shift=0)");
            env.qemu_args = ICOUNT.map(String::from).to_vec();
        }
        Ok(env)
    };
    if args.linux {
        let env = env()?;
        let lazy = args.vfree == Vfree::Lazy;
        let ok = bench::versus::run(&env, args.loops.unwrap_or(1_000_000), args.boots as usize, lazy)?;
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let mut failed = Vec::new();
    // On the host: needs no kernel image or QEMU.
    if (args.part == Part::All || args.part == Part::Alloc) && !bench::alloc::run()? {
        failed.push("alloc-bench".to_string());
    }
    if args.part == Part::Alloc {
        return Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let env = env()?;
    if args.part == Part::Maps {
        return Ok(if bench::maps::run(&env)? { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if args.part == Part::View {
        return Ok(if bench::view::run(&env)? { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if args.part == Part::Huge {
        let ok = bench::mm::huge(&env, args.loops.unwrap_or(11).min(1000))?;
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if args.part == Part::Lazy {
        let ok = bench::lazy::run(&env, args.loops.unwrap_or(100_000), args.boots as usize)?;
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if let (Part::Profile, Some(case)) = (args.part, &args.case) {
        // Always counted in instructions: the profile is of -icount's count.
        let mut env = env.clone();
        env.qemu_args = ICOUNT.map(String::from).to_vec();
        let ok = bench::profile::run(&env, case, args.loops.unwrap_or(1000))?;
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    if args.part == Part::Redzone {
        let ok = bench::mm::redzone(&env, args.loops.unwrap_or(100_000))?;
        return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let allocators: Vec<Allocator> = match args.only {
        Some(a) => vec![a],
        None => vec![Allocator::Tree, Allocator::List],
    };
    let wants = |p: Part| args.part == Part::All || args.part == p;
    if wants(Part::Pgd) && !bench::mm::pgd(&env)? {
        failed.push("pgd_bench".to_string());
    }
    if wants(Part::Soak) && !bench::mm::soak(&env, args.soak_ops)? {
        failed.push("the soak".to_string());
    }
    if !wants(Part::Vmalloc) {
        return Ok(if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    failed.extend(bench::vmalloc(&env, &allocators, args.loops)?);
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("xtask: bench: failed: {}", failed.join(", "));
        Ok(ExitCode::FAILURE)
    }
}
