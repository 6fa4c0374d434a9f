//! The benchmarks of `cargo xtask bench` beyond test_vmalloc: what each
//! PGD-sync strategy costs (`pgd_bench`, one fresh machine per strategy,
//! because top-level entries are used up), the long soak (`stress`) and
//! the vmalloc overrun check (`redzone=on` against `redzone=off`).

use anyhow::Result;
use std::time::Duration;
use xtask::qemu::Firmware;
use xtask::session::{Session, TestEnv};

/// Boots a fresh release machine (1 GiB, TCG) and waits for the prompt.
fn boot(env: &TestEnv, name: &str, timeout: Duration) -> Result<Session> {
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = "1G".into();
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
        let mut s = boot(env, &format!("bench-pgd-{strategy}"), Duration::from_secs(600))?;
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
        let mut machine = env.machine(Firmware::Bios);
        machine.memory = "1G".into();
        machine.cmdline = format!("panic=exit redzone={mode}");
        let mut s = Session::start(&format!("bench-redzone-{mode}"), &machine, env)?;
        s.timeout = Duration::from_secs(3600);
        s.wait_prompt()?;
        machines.push(s);
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
fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Runs the soak for `ops` operations and prints its throughput.
pub fn soak(env: &TestEnv, ops: u64) -> Result<bool> {
    println!("\n==> soak: stress {ops}");
    let mut s = boot(env, "bench-soak", Duration::from_secs(6 * 3600))?;
    let lines = s.command(&format!("stress {ops} 1"))?;
    for line in &lines {
        println!("  {line}");
    }
    Ok(lines.last().is_some_and(|l| l == "0 corrupted, 0 leaked"))
}
