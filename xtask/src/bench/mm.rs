//! The benchmarks of `cargo xtask bench` beyond test_vmalloc: what each
//! PGD-sync strategy costs (`pgd_bench`, one fresh machine per strategy,
//! because top-level entries are used up) and the long soak (`stress`).

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
