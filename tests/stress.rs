//! The soak test through the shell, with a seed that changes every run.

use mosaic_tests::*;

#[test]
fn a_random_soak_corrupts_and_leaks_nothing() -> anyhow::Result<()> {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64 % 1_000_000;
    let mut s = shell("stress")?;
    s.timeout = std::time::Duration::from_secs(240);
    // The first run warms up (page tables, bookkeeping) and checks itself;
    // a second run must then leave buddyinfo exactly as the first did.
    let mut after = Vec::new();
    for run in [seed, seed + 1] {
        let out = s.command(&format!("stress 2000 {run}"))?;
        assert_eq!(out.len(), 2, "seed {run}: {out:?}");
        assert!(out[0].starts_with("stress: 2000 operations in "), "seed {run}: {out:?}");
        assert_eq!(out[1], "0 corrupted, 0 leaked", "seed {run}");
        after.push(s.command("buddyinfo")?);
    }
    assert_eq!(after[0], after[1], "seeds {seed}, {}", seed + 1);
    assert!(s.command("vmallocinfo")?.is_empty());
    Ok(())
}

/// On a 32 MiB machine the warm-up cannot map all it would, and the run
/// adds page tables and heap pages that stay: they are counted, not taken
/// for a leak. Before, this answered `error: state after the run differs:
/// free page count`.
#[test]
fn a_soak_on_a_small_machine_is_not_a_leak() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = "32M".into();
    let mut s = Session::start("stress-32m", &machine, env)?;
    s.timeout = std::time::Duration::from_secs(240);
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    for seed in [5, 6] {
        let out = s.command(&format!("stress 2000 {seed}"))?;
        assert_eq!(out.len(), 2, "seed {seed}: {out:?}");
        assert_eq!(out[1], "0 corrupted, 0 leaked", "seed {seed}");
    }
    assert!(s.command("vmallocinfo")?.is_empty());
    Ok(())
}

/// The soak test once under the oracle (`vmalloc=check`): the tree and the
/// list answer every area request, and the first disagreement would stop
/// the kernel with a report (panic=exit turns that into a failed run).
/// vrealloc's in-place decisions go through it as well.
#[test]
fn a_soak_under_the_oracle_finds_no_disagreement() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = "vmalloc=check panic=exit".into();
    let mut s = Session::start("stress-check", &machine, env)?;
    s.timeout = std::time::Duration::from_secs(300);
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    let first_line = |s: &mut Session, line: &str| -> anyhow::Result<String> {
        Ok(s.command(line)?.into_iter().next().unwrap_or_default())
    };
    let head = first_line(&mut s, "test_vmalloc run_test_mask=1 test_loop_count=10")?;
    assert!(head.starts_with("test_vmalloc: check allocator"), "{head}");
    let out = s.command("stress 2000 17")?;
    assert_eq!(out.get(1).map(String::as_str), Some("0 corrupted, 0 leaked"), "{out:?}");
    // Shrink, grow in place, and grow again (in place or moved), compared.
    let a = first_line(&mut s, "vmalloc 20000")?;
    let a = a.split_whitespace().next().unwrap_or_default().to_string();
    let shrunk = first_line(&mut s, &format!("vrealloc {a} 5000"))?;
    assert!(shrunk.ends_with(": shrunk in place"), "{shrunk}");
    let grown = first_line(&mut s, &format!("vrealloc {a} 20000"))?;
    assert!(grown.ends_with(": grown in place"), "{grown}");
    first_line(&mut s, "vmalloc 4096")?;
    let again = first_line(&mut s, &format!("vrealloc {a} 1M"))?;
    assert!(again.ends_with(": moved") || again.ends_with(": grown in place"), "{again}");
    assert!(!s.transcript().contains("disagree"), "{}", s.transcript());
    Ok(())
}
