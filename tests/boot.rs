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
