//! Helpers shared by the integration tests. The harness itself (booting
//! QEMU, matching output, saving logs) is `xtask::session`.

pub use xtask::qemu::{Firmware, EXIT_FAILURE, EXIT_SUCCESS};
pub use xtask::session::{Session, TestEnv};

use anyhow::Result;

pub mod cdp;

/// Boots `firmware` and waits for the first prompt.
pub fn booted(name: &str, firmware: Firmware) -> Result<Session> {
    let mut s = Session::boot(name, firmware)?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    Ok(s)
}

/// Boots the BIOS image to the prompt.
pub fn shell(name: &str) -> Result<Session> {
    booted(name, Firmware::Bios)
}

/// Boots the BIOS image in test mode (`ktest=<filter> panic=exit`), waits
/// for QEMU to exit and returns its status and the transcript.
pub fn run_ktest(name: &str, filter: &str) -> Result<(Option<i32>, String)> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = format!("ktest={filter} panic=exit");
    let mut s = Session::start(name, &machine, env)?;
    let code = s.wait_exit()?;
    Ok((code, s.transcript()))
}

/// Free pages plus what bookkeeping keeps, in kB, from `meminfo`: MemFree +
/// Slab + HeapLarge + PageTables, the kernel's `mm::pages_accounted`. Page
/// tables and heap growth are counted; a page not given back is not, so a
/// call that fails and rolls back leaves this unchanged.
pub fn accounted_kb(s: &mut Session) -> Result<u64> {
    let mut total = 0;
    for line in s.command("meminfo")? {
        let mut words = line.split_whitespace();
        if let (Some("MemFree:" | "Slab:" | "HeapLarge:" | "PageTables:"), Some(kb)) = (words.next(), words.next()) {
            total += kb.parse::<u64>()?;
        }
    }
    Ok(total)
}

/// Heap objects in use, from `slabinfo`: the active objects of every cache
/// plus the large blocks (the kernel's `HeapStats::objects_in_use`). A
/// leaked object shows here even when it moved no page, which
/// `accounted_kb` cannot see.
pub fn heap_objects(s: &mut Session) -> Result<u64> {
    let mut total = 0;
    for line in s.command("slabinfo")? {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [name, active, ..] if name.starts_with("kmalloc-") => total += active.parse::<u64>()?,
            ["large", "blocks", "from", "the", "buddy", "allocator:", n, ..] => total += n.parse::<u64>()?,
            _ => {}
        }
    }
    Ok(total)
}

/// Runs `line` and checks that the answer is exactly one `error: ` line.
pub fn expect_error(s: &mut Session, line: &str) -> Result<String> {
    s.command_expect(line, "^error: \\S")
}
