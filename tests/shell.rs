//! The shell: commands, line editing, and bad input.

use mosaic_tests::*;

#[test]
fn help_lists_every_command_with_usage() -> anyhow::Result<()> {
    let mut s = shell("help")?;
    let lines = s.command("help")?;
    for name in [
        "help",
        "echo",
        "uptime",
        "log",
        "num",
        "shutdown",
        "reboot",
        "buddyinfo",
        "zoneinfo",
        "meminfo",
        "slabinfo",
        "alloc_pages",
        "free_pages",
    ] {
        let found = lines.iter().any(|l| l.starts_with(&format!("{name} ")) && l.split_whitespace().count() > 2);
        assert!(found, "help has no line for {name}: {lines:#?}");
    }
    let usage = s.command("help log")?;
    assert_eq!(usage, ["usage: log [off|error|warn|info|debug|trace]", "  show or set the kernel log level"]);
    Ok(())
}

#[test]
fn echo_uptime_and_log_level() -> anyhow::Result<()> {
    let mut s = shell("commands")?;
    s.command_expect("echo  hello   world ", "^hello world$")?;
    s.command_expect("uptime", r"^up \d+\.\d{3} s \(\d+ ticks at 100 Hz\)$")?;
    s.command_expect("log", "^log level: info$")?;
    s.command_expect("log debug", "^log level: debug$")?;
    s.command_expect("log", "^log level: debug$")?;
    s.command_expect("log WARN", "^log level: warn$")?;
    Ok(())
}

#[test]
fn numbers_accept_decimal_hex_and_size_suffixes() -> anyhow::Result<()> {
    let mut s = shell("numbers")?;
    s.command_expect("num 20000", "^20000 = 0x4e20$")?;
    s.command_expect("num 0x1000", "^4096 = 0x1000 = 4 KiB$")?;
    s.command_expect("num 64K", "^65536 = 0x10000 = 64 KiB$")?;
    s.command_expect("num 3M", "^3145728 = 0x300000 = 3 MiB$")?;
    s.command_expect("num 5G", "^5368709120 = 0x140000000 = 5 GiB$")?;
    Ok(())
}

#[test]
fn line_editing_keys() -> anyhow::Result<()> {
    let mut s = shell("editing")?;
    // Backspace (DEL and BS), then Ctrl-U to wipe a whole line.
    assert_eq!(s.command("echo abx\x7fc\x08d")?, ["abd"]);
    assert_eq!(s.command("garbage\x15echo clean")?, ["clean"]);
    // Ctrl-C abandons the line: nothing runs, a new prompt appears.
    s.send(b"shutdown\x03")?;
    s.wait_prompt()?;
    // Up arrow recalls the previous command; two ups go further back.
    assert_eq!(s.command("\x1b[A")?, ["clean"]);
    assert_eq!(s.command("\x1b[A\x1b[A")?, ["abd"]);
    Ok(())
}

#[test]
fn bad_input_gets_one_error_line_and_the_shell_carries_on() -> anyhow::Result<()> {
    let mut s = shell("bad-input")?;
    let long = "x".repeat(4096);
    let many = "echo ".to_string() + &"w ".repeat(20);
    let cases = [
        "frobnicate",
        "log loud",
        "log info extra",
        "uptime now",
        "help nosuchcommand",
        "num",
        "num 12abc",
        "num -1",
        "num 0x",
        "num 18446744073709551616",
        "num 17179869184G",
        "shutdown now",
        long.as_str(),
        many.as_str(),
        "\x01\x02\x1b[Zlog\x7f\x7f\x7fnum x",
    ];
    for line in cases {
        expect_error(&mut s, line)?;
    }
    s.command_expect("echo still alive", "^still alive$")?;
    s.command_expect("log", "^log level: info$")?;
    Ok(())
}

#[test]
fn ctrl_c_stops_a_long_test_vmalloc_and_frees_everything() -> anyhow::Result<()> {
    let mut s = shell("ctrl-c")?;
    let before = accounted_kb(&mut s)?;
    s.send(b"test_vmalloc run_test_mask=1 test_loop_count=100000000\n")?;
    s.expect("^test_vmalloc: tree allocator")?;
    std::thread::sleep(std::time::Duration::from_millis(500));
    s.send(&[0x03])?;
    s.expect("^error: test_vmalloc: interrupted by Ctrl-C")?;
    s.wait_prompt()?;
    assert_eq!(s.command("vmallocinfo")?, Vec::<String>::new());
    // The first run makes page tables, which stay: they are accounted.
    assert_eq!(accounted_kb(&mut s)?, before, "Ctrl-C left pages allocated");
    // At the prompt, Ctrl-C is the line editor's again: it abandons a line.
    s.send(b"echo never\x03")?;
    s.wait_prompt()?;
    s.command_expect("echo after", "^after$")?;
    Ok(())
}

#[test]
fn ctrl_c_stops_a_long_stress_run_and_checks_it() -> anyhow::Result<()> {
    let mut s = shell("ctrl-c-stress")?;
    s.send(b"stress 100000000 5\n")?;
    std::thread::sleep(std::time::Duration::from_millis(1500));
    s.send(&[0x03])?;
    let line = s.expect("^error: ")?;
    assert!(
        line.contains("interrupted by Ctrl-C after") && line.contains("everything the run made is freed"),
        "{line}"
    );
    s.wait_prompt()?;
    assert_eq!(s.command("vmallocinfo")?, Vec::<String>::new());
    assert_eq!(s.command("as list")?.len(), 2, "only address space 0 is left");
    Ok(())
}

#[test]
fn ctrl_c_stops_pgd_bench_and_puts_the_strategy_back() -> anyhow::Result<()> {
    let mut s = shell("ctrl-c-pgd-bench")?;
    s.command_expect("pgd_sync eager", "^pgd_sync: eager")?;
    s.send(b"pgd_bench lazy\n")?;
    s.expect("^pgd_bench lazy create_address_space ")?;
    s.send(&[0x03])?;
    s.expect("^error: pgd_bench: interrupted by Ctrl-C")?;
    s.wait_prompt()?;
    s.command_expect("pgd_sync", "^pgd_sync: eager")?;
    assert_eq!(s.command("vmallocinfo")?, Vec::<String>::new());
    assert_eq!(s.command("as list")?.len(), 2, "only address space 0 is left");
    Ok(())
}
