//! Fatal errors must be reported, then end the run with a failure status:
//! never a silent hang, never a triple-fault reset (with -no-reboot a reset
//! would end QEMU with status 0).

use mosaic_tests::*;

fn crash(test: &str) -> anyhow::Result<String> {
    let (code, out) = run_ktest(&test.replace("::", "-"), test)?;
    assert_eq!(code, Some(EXIT_FAILURE), "{out}");
    assert!(out.contains(&format!("ktest: {test} ... FAILED (exception)")), "{out}");
    assert!(out.contains("  RIP: 0xffffffff8") && out.contains("  RSP: 0x"), "no registers in:\n{out}");
    Ok(out)
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
    Ok(())
}
