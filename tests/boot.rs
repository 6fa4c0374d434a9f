//! Booting: both firmwares reach the prompt; shutdown and reboot work.

use mosaic_tests::*;

#[test]
fn bios_boots_to_the_prompt() -> anyhow::Result<()> {
    let mut s = booted("boot-bios", Firmware::Bios)?;
    s.command_expect("echo bios", "^bios$")?;
    Ok(())
}

#[test]
fn uefi_boots_to_the_prompt() -> anyhow::Result<()> {
    let mut s = booted("boot-uefi", Firmware::Uefi)?;
    s.command_expect("echo uefi", "^uefi$")?;
    Ok(())
}

#[test]
fn shutdown_ends_qemu_with_success() -> anyhow::Result<()> {
    let mut s = shell("shutdown")?;
    s.send(b"shutdown\n")?;
    s.expect("^shutting down$")?;
    assert_eq!(s.wait_exit()?, Some(EXIT_SUCCESS));
    Ok(())
}

#[test]
fn reboot_comes_back_to_the_prompt() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.no_reboot = false;
    let mut s = Session::start("reboot", &machine, env)?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    s.send(b"reboot\n")?;
    s.expect("^rebooting$")?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    s.command_expect("echo back", "^back$")?;
    Ok(())
}

#[test]
fn unknown_kernel_options_are_reported_at_boot() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = "vmalloc=lst verbose".into();
    let mut s = Session::start("cmdline-unknown", &machine, env)?;
    s.expect("^cmdline: `vmalloc=lst`: the value must be `list`, `tree` or `check`")?;
    s.expect("^cmdline: unknown option `verbose`")?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    s.command_expect("echo still here", "^still here$")?;
    Ok(())
}

/// A command line past the shell's 255-byte line limit is read whole (an
/// unknown option at its end is reported); one past 4096 bytes, or with a
/// byte that is not UTF-8 (fw_cfg carries bytes: sent from a file), is
/// read up to there and the rest named at boot, never dropped silently.
#[test]
fn long_and_non_utf8_kernel_command_lines_are_reported_at_boot() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let boot = |name: &str, machine: &xtask::qemu::Machine, lines: &[&str]| -> anyhow::Result<()> {
        let mut s = Session::start(name, machine, env)?;
        for line in lines {
            s.expect(line)?;
        }
        s.expect("^Mosaic teaching kernel")?;
        s.wait_prompt()?;
        s.command_expect("echo still here", "^still here$")?;
        Ok(())
    };
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = format!("vmalloc=list{}verbose", " ".repeat(300));
    boot("cmdline-300", &machine, &["^cmdline: unknown option `verbose`"])?;
    machine.cmdline = format!("vmalloc=list {}", "x".repeat(5000));
    boot("cmdline-5000", &machine, &["^cmdline: byte 4096 is past the 4096-byte limit; the rest is ignored$"])?;
    let file = std::env::temp_dir().join(format!("mosaic-cmdline-{}", std::process::id()));
    std::fs::write(&file, b"vmalloc=lst \xff\xfe verbose")?;
    machine.cmdline = String::new();
    machine.extra = vec!["-fw_cfg".into(), format!("name=opt/mosaic/cmdline,file={}", file.display())];
    let result = boot(
        "cmdline-not-utf8",
        &machine,
        &["^cmdline: byte 12 is not UTF-8; the rest is ignored$", "^cmdline: `vmalloc=lst`: the value must be"],
    );
    std::fs::remove_file(&file)?;
    result
}

#[test]
fn a_ktest_filter_that_matches_nothing_says_so() -> anyhow::Result<()> {
    let (code, transcript) = run_ktest("ktest-nomatch", "nosuchtest")?;
    assert_eq!(code, Some(EXIT_FAILURE), "{transcript}");
    assert!(transcript.contains("ktest: no test matches `nosuchtest`"), "{transcript}");
    Ok(())
}

/// The seconds in a harness failure "... after N.N s (...": the time the
/// test really ran, not its limit.
fn seconds_ran(message: &str) -> f64 {
    let re = regex::Regex::new(r"after (\d+\.\d) s \(").unwrap();
    let caps = re.captures(message).unwrap_or_else(|| panic!("no 'after N.N s (' in {message:?}"));
    caps[1].parse().unwrap()
}

/// A wait that ends because QEMU exited says how long the test ran (a few
/// seconds here), not the wait's limit (it once said "after 60s").
#[test]
fn an_early_exit_says_how_long_the_test_really_ran() -> anyhow::Result<()> {
    let mut s = shell("boot-early-exit")?;
    s.timeout = std::time::Duration::from_secs(120);
    s.send(b"shutdown\n")?;
    let e = s.expect("^a line the kernel never prints$").expect_err("QEMU exited");
    let msg = format!("{e:#}");
    assert!(msg.starts_with("QEMU exited after "), "{msg}");
    let ran = seconds_ran(&msg);
    assert!(ran > 0.0 && ran < s.elapsed().as_secs_f64() + 0.1 && ran < 60.0, "{msg}");
    Ok(())
}

/// A wait that runs out of time says so, with the time since boot and the
/// limit it had.
#[test]
fn a_timeout_says_how_long_the_test_ran_and_its_limit() -> anyhow::Result<()> {
    let mut s = shell("boot-timeout")?;
    let booted = s.elapsed().as_secs_f64();
    s.timeout = std::time::Duration::from_secs(1);
    let e = s.expect("^a line the kernel never prints$").expect_err("timed out");
    let msg = format!("{e:#}");
    assert!(msg.starts_with("timed out after "), "{msg}");
    assert!(seconds_ran(&msg) >= booted + 0.9 && msg.contains("within the 1 s limit"), "{msg}");
    Ok(())
}

/// A failed session told to keep its log quietly (the grader's parallel
/// tests) still writes it where `log_path` says, for the result to name.
#[test]
fn a_quiet_failed_session_keeps_its_log_at_log_path() -> anyhow::Result<()> {
    let mut s = shell("boot-quiet-log")?;
    s.quiet_log();
    s.command_expect("echo quiet-log-marker", "^quiet-log-marker$")?;
    let path = s.log_path();
    let _ = std::fs::remove_file(&path);
    s.fail();
    drop(s);
    let log = std::fs::read_to_string(&path)?;
    assert!(log.contains("quiet-log-marker"), "{}: {log:?}", path.display());
    Ok(())
}
