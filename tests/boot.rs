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
    s.expect("^cmdline: `vmalloc=lst`: the value must be `list` or `tree`")?;
    s.expect("^cmdline: unknown option `verbose`")?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    s.command_expect("echo still here", "^still here$")?;
    Ok(())
}

#[test]
fn a_ktest_filter_that_matches_nothing_says_so() -> anyhow::Result<()> {
    let (code, transcript) = run_ktest("ktest-nomatch", "nosuchtest")?;
    assert_eq!(code, Some(EXIT_FAILURE), "{transcript}");
    assert!(transcript.contains("ktest: no test matches `nosuchtest`"), "{transcript}");
    Ok(())
}
