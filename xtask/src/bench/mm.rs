//! The benchmarks of `cargo xtask bench` beyond test_vmalloc: what each
//! PGD-sync strategy costs (`pgd_bench`, one fresh machine per strategy,
//! because top-level entries are used up), the long soak (`stress`) and
//! the vmalloc overrun check (`redzone=on` against `redzone=off`), and
//! 2 MiB vmalloc leaves against 4 KiB pages (`huge_bench`).

use anyhow::Result;
use std::time::Duration;
use xtask::qemu::Firmware;
use xtask::session::{Session, TestEnv};

/// Boots a fresh release machine (1 GiB, TCG) with the kernel options
/// `cmdline` and waits for the prompt.
pub(super) fn boot(env: &TestEnv, name: &str, cmdline: &str, timeout: Duration) -> Result<Session> {
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = "1G".into();
    machine.cmdline = cmdline.into();
    let mut s = Session::start(name, &machine, env)?;
    s.timeout = timeout;
    s.wait_prompt()?;
    Ok(s)
}

/// Runs `pgd_bench` for each strategy and prints its lines as a table.
pub fn pgd(env: &TestEnv) -> Result<bool> {
    println!("\n==> PGD-sync strategies (pgd_bench, ns; see docs/lazy-pgd.md)");
    let mut ok = true;
    for strategy in ["lazy", "eager", "prealloc"] {
        let mut s = boot(env, &format!("bench-pgd-{strategy}"), "panic=exit", Duration::from_secs(600))?;
        for line in s.command(&format!("pgd_bench {strategy}"))? {
            ok &= !line.starts_with("error:");
            println!("  {line}");
        }
    }
    Ok(ok)
}

/// Rounds of the redzone benchmark; each runs every case on both machines.
const REDZONE_ROUNDS: usize = 7;
/// (label, test_vmalloc arguments): fix_size with 20000-byte areas (480
/// bytes of redzone each), and with whole pages (no redzone to check).
const REDZONE_CASES: [(&str, &str); 2] = [
    ("20000 bytes (5 pages, 480 bytes of slack)", "nr_pages=5 short_by=480"),
    ("20480 bytes (5 whole pages, no slack)", "nr_pages=5"),
];

/// Measures the overrun check: two release machines, one booted with
/// `redzone=off` and one with `redzone=on`, run fix_size_alloc_test in
/// turn, back to back, `REDZONE_ROUNDS` times; prints the medians and
/// their ratio.
pub fn redzone(env: &TestEnv, loops: u64) -> Result<bool> {
    println!("\n==> the vmalloc overrun check: fix_size_alloc_test, {loops} loops, {REDZONE_ROUNDS} rounds, medians");
    let mut machines = Vec::new();
    for mode in ["off", "on"] {
        let cmdline = format!("panic=exit redzone={mode}");
        machines.push(boot(env, &format!("bench-redzone-{mode}"), &cmdline, Duration::from_secs(3600))?);
    }
    let re = regex::Regex::new(r"^mosaic: fix_size_alloc_test (\d+) ns per loop")?;
    let mut ok = true;
    for (label, args) in REDZONE_CASES {
        let mut ns = [Vec::new(), Vec::new()];
        for _ in 0..REDZONE_ROUNDS {
            for (i, s) in machines.iter_mut().enumerate() {
                let lines = s.command(&format!("test_vmalloc run_test_mask=1 test_loop_count={loops} {args}"))?;
                match lines.iter().find_map(|l| re.captures(l)).and_then(|c| c[1].parse::<u64>().ok()) {
                    Some(n) => ns[i].push(n),
                    None => ok = false,
                }
            }
        }
        let [off, on] = ns.map(median);
        let ratio = if off > 0 { on as f64 / off as f64 } else { f64::NAN };
        println!("  {label:<42} off {off:>7} ns  on {on:>7} ns  on/off {ratio:.3}");
    }
    Ok(ok)
}

/// The median of `v` (0 if empty).
pub(super) fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Runs the soak for `ops` operations and prints its throughput.
pub fn soak(env: &TestEnv, ops: u64) -> Result<bool> {
    println!("\n==> soak: stress {ops}");
    let mut s = boot(env, "bench-soak", "panic=exit", Duration::from_secs(6 * 3600))?;
    let lines = s.command(&format!("stress {ops} 1"))?;
    for line in &lines {
        println!("  {line}");
    }
    Ok(lines.last().is_some_and(|l| l == "0 corrupted, 0 leaked"))
}

/// Boots of the huge-mapping benchmark, and the area sizes it measures.
const HUGE_BOOTS: usize = 3;
const HUGE_SIZES: [&str; 3] = ["2M", "4M", "16M"];
/// The figures of one `huge_bench` line, in its order: alloc_ns,
/// touch_ns_per_page, free_ns, pte_tables, leaves.
type HugeFigures = [u64; 5];

/// Measures 2 MiB leaves against 4 KiB pages: `HUGE_BOOTS` fresh release
/// machines each run `huge_bench` (small and huge back to back, `rounds`
/// rounds, medians) for every size; prints the medians over the boots.
pub fn huge(env: &TestEnv, rounds: u64) -> Result<bool> {
    println!("\n==> huge against small pages: huge_bench, {rounds} rounds, {HUGE_BOOTS} boots, medians");
    let re = regex::Regex::new(
        r"^huge_bench (\d+) (small|huge) alloc_ns (\d+) touch_ns_per_page (\d+) free_ns (\d+) pte_tables (\d+) leaves (\d+)$",
    )?;
    // [size][small, huge][figure] -> one value per boot
    let mut seen = vec![[[(); 5].map(|_| Vec::new()), [(); 5].map(|_| Vec::new())]; HUGE_SIZES.len()];
    let mut ok = true;
    for boot_no in 0..HUGE_BOOTS {
        let mut s = boot(env, &format!("bench-huge-{boot_no}"), "panic=exit", Duration::from_secs(3600))?;
        for (i, size) in HUGE_SIZES.iter().enumerate() {
            let lines = s.command(&format!("huge_bench {size} {rounds}"))?;
            let caps: Vec<_> = lines.iter().filter_map(|l| re.captures(l)).collect();
            ok &= caps.len() == 2;
            for c in caps {
                let kind = usize::from(&c[2] == "huge");
                for f in 0..5 {
                    seen[i][kind][f].push(c[f + 3].parse::<u64>()?);
                }
            }
        }
    }
    println!(
        "  {:<6} {:<6} {:>12} {:>10} {:>12} {:>10} {:>7}",
        "size", "page", "alloc ns", "touch ns", "free ns", "PTE pages", "leaves"
    );
    for (i, size) in HUGE_SIZES.iter().enumerate() {
        let [small, huge]: [HugeFigures; 2] = seen[i].clone().map(|kind| kind.map(median));
        for (name, f) in [("4K", small), ("2M", huge)] {
            println!("  {size:<6} {name:<6} {:>12} {:>10} {:>12} {:>10} {:>7}", f[0], f[1], f[2], f[3], f[4]);
        }
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
        println!(
            "  {size:<6} 4K/2M  {:>12.2} {:>10.2} {:>12.2}   page-table pages saved: {}",
            ratio(small[0], huge[0]),
            ratio(small[1], huge[1]),
            ratio(small[2], huge[2]),
            small[3].saturating_sub(huge[3])
        );
    }
    Ok(ok)
}
