//! Fatal errors must be reported, then end the run with a failure status:
//! never a silent hang, never a triple-fault reset (with -no-reboot a reset
//! would end QEMU with status 0). The report is the oops (kernel/src/oops/,
//! read in docs/debugging.md): every register, the error code in words, a
//! backtrace with names and file:line from the embedded symbol table, the
//! frame in a LAB region marked, and for a page fault the walk of CR2 and
//! what CR2 is. The shell's `crash <kind>` faults with R12 = MARKER.

use mosaic_tests::*;
use regex::Regex;

/// What R12 holds when a `crash` kind faults (shell/crash_command.rs).
const MARKER: &str = "R12: 0x00c0ffeedeadbeef";

fn crash(test: &str) -> anyhow::Result<String> {
    let (code, out) = run_ktest(&test.replace("::", "-"), test)?;
    assert_eq!(code, Some(EXIT_FAILURE), "{out}");
    assert!(out.contains(&format!("ktest: {test} ... FAILED (exception)")), "{out}");
    assert!(out.contains("  RIP: 0xffffffff8") && out.contains("  RSP: 0x"), "no registers in:\n{out}");
    Ok(out)
}

/// Boots to the shell, runs `crash <kind>`, and returns what the kernel
/// printed until QEMU ended (with a failure status, `panic=exit`).
fn shell_crash(kind: &str) -> anyhow::Result<String> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = "panic=exit".into();
    let mut s = Session::start(&format!("crash-{kind}"), &machine, env)?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    s.send(format!("crash {kind}\r").as_bytes())?;
    let code = s.wait_exit()?;
    let out = s.transcript();
    assert_eq!(code, Some(EXIT_FAILURE), "{out}");
    Ok(out)
}

/// Every general-purpose register is printed with a 16-digit value.
fn assert_all_registers(out: &str) {
    for reg in ["RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "R8 ", "R9 ", "R10", "R11", "R12", "R13", "R14", "R15"]
    {
        let re = Regex::new(&format!(r"  {reg}: 0x[0-9a-f]{{16}}")).unwrap();
        assert!(re.is_match(out), "no {reg} in:\n{out}");
    }
    assert!(
        Regex::new(r"  CR0: 0x[0-9a-f]+  CR2: 0x[0-9a-f]+  CR3: 0x[0-9a-f]+  CR4: 0x").unwrap().is_match(out),
        "{out}"
    );
}

/// The backtrace has a frame `#n 0x... <name>+0x.. at <file>:<line>`.
fn assert_frame(out: &str, name: &str, file: &str) {
    let re = Regex::new(&format!(
        r"  #\d+ +0xffffffff8[0-9a-f]+ {}\+0x[0-9a-f]+ at {}:\d+",
        regex::escape(name),
        regex::escape(file)
    ))
    .unwrap();
    assert!(re.is_match(out), "no frame of {name} at {file} in:\n{out}");
}

#[test]
fn stack_overflow_is_caught_on_the_double_fault_stack() -> anyhow::Result<()> {
    let out = crash("crash::stack_overflow")?;
    assert!(out.contains("EXCEPTION: #DF double fault (vector 8)"), "{out}");
    assert!(out.contains("kernel stack overflow"), "{out}");
    Ok(())
}

#[test]
fn invalid_opcode_is_reported() -> anyhow::Result<()> {
    let out = crash("crash::invalid_opcode")?;
    assert!(out.contains("EXCEPTION: #UD invalid opcode (vector 6)"), "{out}");
    Ok(())
}

#[test]
fn general_protection_fault_is_reported() -> anyhow::Result<()> {
    let out = crash("crash::general_protection")?;
    assert!(out.contains("EXCEPTION: #GP general protection fault (vector 13)\n  error code: 0x0"), "{out}");
    Ok(())
}

#[test]
fn kernel_page_fault_is_an_oops_that_says_what_the_address_was() -> anyhow::Result<()> {
    let out = crash("crash::null_dereference")?;
    assert!(out.contains("EXCEPTION: #PF page fault (vector 14)\n  CR2: 0x0000000000000008"), "{out}");
    assert!(out.contains("read at 0x8: not mapped"), "{out}");
    assert_frame(&out, "ktests::foundation::null_dereference", "kernel/src/ktests/foundation.rs");
    Ok(())
}

#[test]
fn null_read_oops_has_registers_decoded_code_walk_and_explain() -> anyhow::Result<()> {
    let out = shell_crash("null")?;
    assert!(out.contains("  error code: 0x0 = read, not-present page, kernel mode"), "{out}");
    assert!(out.contains(MARKER), "{out}");
    assert_all_registers(&out);
    assert!(out.contains("  page-table walk of CR2 (as `pt 0x0`):\n    PGD[0]   = 0x"), "{out}");
    assert!(out.contains("    -> not mapped: the "), "{out}");
    assert!(out.contains("  what CR2 is (as `explain 0x0`): not mapped"), "{out}");
    assert_frame(&out, "shell::crash_command::read_at", "kernel/src/shell/crash_command.rs");
    assert_frame(&out, "shell::crash_command::crash", "kernel/src/shell/crash_command.rs");
    assert_frame(&out, "shell::execute", "kernel/src/shell/mod.rs");
    Ok(())
}

#[test]
fn write_to_rodata_is_a_protection_violation_on_a_present_page() -> anyhow::Result<()> {
    let out = shell_crash("write-rodata")?;
    assert!(out.contains("  error code: 0x3 = write, present page (a protection violation), kernel mode"), "{out}");
    assert!(
        Regex::new(r"    PTE\[\d+\] +=  ?0x[0-9a-f]{16} P A NX\n    -> physical 0x").unwrap().is_match(&out),
        "{out}"
    );
    assert!(out.contains("): kernel rodata"), "{out}");
    assert!(out.contains(MARKER), "{out}");
    Ok(())
}

#[test]
fn vmalloc_guard_page_write_is_explained() -> anyhow::Result<()> {
    let out = shell_crash("vmalloc-guard")?;
    assert!(out.contains("  error code: 0x2 = write, not-present page, kernel mode"), "{out}");
    assert!(out.contains("-> not mapped: the PTE entry is not present"), "{out}");
    let explain = Regex::new(
        r"what CR2 is \(as `explain 0xffffc9[0-9a-f]+`\): the guard page of the 4096-byte vmalloc area at 0x[0-9a-f]+ \(1 pages \+ guard\), allocated at kernel/src/shell/crash_command.rs:\d+",
    )
    .unwrap();
    assert!(explain.is_match(&out), "{out}");
    assert_frame(&out, "shell::crash_command::write_at", "kernel/src/shell/crash_command.rs");
    Ok(())
}

#[test]
fn gp_and_ud_from_the_shell_decode_and_name_the_frame() -> anyhow::Result<()> {
    let out = shell_crash("gp")?;
    assert!(out.contains("  error code: 0x0 = no selector (e.g. a non-canonical address"), "{out}");
    assert!(out.contains(MARKER), "{out}");
    assert_frame(&out, "shell::crash_command::read_at", "kernel/src/shell/crash_command.rs");
    let out = shell_crash("ud")?;
    assert!(out.contains("EXCEPTION: #UD invalid opcode (vector 6)"), "{out}");
    assert!(out.contains(MARKER), "{out}");
    assert_frame(&out, "shell::crash_command::invalid_opcode", "kernel/src/shell/crash_command.rs");
    Ok(())
}

#[test]
fn stack_overflow_from_the_shell_folds_the_recursion() -> anyhow::Result<()> {
    let out = shell_crash("overflow")?;
    assert!(out.contains("kernel stack overflow"), "{out}");
    assert!(Regex::new(r"the frame above repeats \d+ more times").unwrap().is_match(&out), "{out}");
    assert_frame(&out, "shell::crash_command::crash", "kernel/src/shell/crash_command.rs");
    Ok(())
}

#[test]
fn panic_oops_has_the_handlers_registers_and_the_path_to_the_panic() -> anyhow::Result<()> {
    let out = shell_crash("panic")?;
    assert!(out.contains("KERNEL PANIC: panicked at kernel/src/shell/crash_command.rs:"), "{out}");
    assert!(out.contains("registers of the panic handler"), "{out}");
    assert_all_registers(&out);
    assert_frame(&out, "shell::crash_command::crash", "kernel/src/shell/crash_command.rs");
    assert!(!out.contains("EXCEPTION"), "{out}");
    Ok(())
}

#[test]
fn a_panic_in_lab_code_marks_the_frame() -> anyhow::Result<()> {
    let (code, out) = run_ktest("demo-panic-in-lab-code", "demo::panic_in_lab_code")?;
    assert_eq!(code, Some(EXIT_FAILURE), "{out}");
    let re = Regex::new(r"  #\d+ +0x[0-9a-f]+ mm::page_alloc::zone::Zone::free\+0x[0-9a-f]+ at kernel/src/mm/page_alloc/zone.rs:\d+  <- LAB 1 \(your code\)").unwrap();
    assert!(re.is_match(&out), "{out}");
    assert_frame(&out, "ktests::demo::panic_in_lab_code", "kernel/src/ktests/demo.rs");
    assert_eq!(out.matches("<- LAB").count(), 1, "{out}");
    Ok(())
}

#[test]
fn bad_crash_kinds_are_errors() -> anyhow::Result<()> {
    let mut s = shell("crash-bad-kind")?;
    let out = s.command("crash bogus")?;
    assert!(out.len() == 1 && out[0].starts_with("error: unknown crash kind 'bogus'"), "{out:?}");
    let out = s.command("crash")?;
    assert!(out.len() == 1 && out[0].starts_with("error: "), "{out:?}");
    Ok(())
}
