//! The debugger, scripted: QEMU waits for gdb (`-S`), gdb attaches in
//! batch mode with Mosaic's scripts (the command line `cargo xtask gdb`
//! uses, xtask::gdb), breaks in `get_vm_area` while the shell runs
//! `vmalloc`, prints locals (through the pretty-printers), runs the
//! mosaic-* commands, breaks in the generic `alloc_area_pte` and detaches. A
//! second gdb then attaches to the same machine, and the shell still
//! answers. Every wait is bounded: the session's timeout for the serial
//! side, a deadline (gdb killed) for gdb.

use mosaic_tests::*;
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;
use xtask::build::{self, Profile};
use xtask::process::{run_with_deadline, Output};

/// How long one gdb run may take before it is killed.
const GDB_LIMIT: Duration = Duration::from_secs(180);

/// A TCP port nobody listens on now (for QEMU's gdb stub: tests run in
/// parallel, so the fixed 1234 of `run --gdb` would clash).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("no free local port").port()
}

/// gdb in batch mode against the stub on `port`, running `commands` in order.
fn gdb(port: u16, commands: &[&str]) -> Command {
    let kernel = build::kernel_path(Profile::Debug);
    assert!(kernel.is_file(), "no kernel ELF at {} (build the debug images first)", kernel.display());
    assert!(
        Command::new("gdb").arg("--version").output().is_ok_and(|o| o.status.success()),
        "gdb is not installed: this test needs it (.ci/run installs it; `apt-get install gdb`)"
    );
    let mut cmd = xtask::gdb::command(&kernel, port, true);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd
}

/// Runs gdb to the end (or its deadline) and returns what it printed.
fn finish(cmd: &mut Command) -> String {
    let done = run_with_deadline(cmd, GDB_LIMIT, Output::Capture).expect("cannot run gdb");
    assert!(done.status.is_some(), "gdb still running after {GDB_LIMIT:?}, killed:\n{}", done.output);
    done.output
}

fn contains_line(out: &str, pattern: &str) -> bool {
    let re = regex::Regex::new(pattern).unwrap();
    out.lines().any(|l| re.is_match(l))
}

#[test]
fn gdb_breaks_in_get_vm_area_reads_the_records_and_detaches() -> anyhow::Result<()> {
    let port = free_port();
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.extra = vec!["-gdb".into(), format!("tcp:127.0.0.1:{port}"), "-S".into()];
    let mut s = Session::start("gdb", &machine, env)?;
    let mut first = gdb(
        port,
        &[
            "mosaic-break get_vm_area",
            "continue",
            "print/d size",
            "continue",
            "print size",
            "info args",
            "mosaic-vmallocinfo",
            "mosaic-pt 0xffffc90000000000",
            "mosaic-explain 0xffffc90000004e2c",
            "mosaic-buddyinfo",
            "print *v",
            "finish",
            "mosaic-break alloc_area_pte",
            "continue",
            "print flags",
            "delete",
            "detach",
        ],
    );
    // gdb attaches, sets the breakpoint and lets the machine boot.
    let first = std::thread::spawn(move || finish(&mut first));
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    // The first vmalloc stops in get_vm_area until gdb continues; the
    // second stops there until gdb has run its commands and detached.
    let area = s.command_expect("vmalloc 20000", "^0x[0-9a-f]+ \\(5 pages mapped")?;
    assert!(area.starts_with("0xffffc90000000000 "), "the script walks the first area at VMALLOC_START: {area}");
    s.command_expect("vmalloc 8192", "^0xffffc90000006000 \\(2 pages mapped")?;
    let out = first.join().expect("the gdb thread panicked");

    assert!(
        contains_line(&out, "^mosaic-break: mosaic_kernel::mm::vmalloc::get_vm_area at kernel/src/mm/vmalloc/mod.rs:"),
        "{out}"
    );
    assert!(contains_line(&out, "^Breakpoint 1, mosaic_kernel::mm::vmalloc::get_vm_area \\(.*size=0x4e20"), "{out}");
    assert!(out.contains("$1 = 20000\n") && out.contains("$2 = 0x2000\n"), "locals not printed:\n{out}");
    assert!(out.contains("caller = kernel/src/shell/vm_commands.rs:"), "&Location not pretty-printed:\n{out}");
    assert!(out.contains("note: the vmalloc lock is held"), "{out}");
    assert!(
        contains_line(&out, "^0xffffc90000000000-0xffffc90000006000    24576 kernel/src/shell/vm_commands.rs:\\d+ pages=5 vmalloc \\(asked 20000 bytes\\)$"),
        "{out}"
    );
    assert!(out.contains("1 areas (tree allocator), 5 pages held by vmalloc"), "{out}");
    assert!(contains_line(&out, "^PGD\\[402\\] = 0x[0-9a-f]{16} P W"), "{out}");
    assert!(contains_line(&out, "^PTE\\[0\\]   = 0x8[0-9a-f]{15} P W .*G NX$"), "{out}");
    assert!(contains_line(&out, "^-> physical 0x[0-9a-f]+000$"), "{out}");
    assert!(
        out.contains("0xffffc90000004e2c: byte 20012 of the 20000-byte vmalloc area at 0xffffc90000000000 (5 pages + guard), allocated at kernel/src/shell/vm_commands.rs:"),
        "{out}"
    );
    assert!(out.contains(", 12 bytes past its end\n"), "{out}");
    assert!(contains_line(&out, "^Node 0, zone    DMA32 "), "{out}");
    assert!(out.contains("free lists consistent with nr_free and mem_map"), "{out}");
    assert!(out.contains("areas: Box<dyn>: mosaic_kernel::mm::vmap_area::tree::TreeAllocator<"), "{out}");
    assert!(out.contains("::Ok(VirtAddr(0xffffc90000006000))\n"), "finish: no VirtAddr in hex:\n{out}");
    assert!(out.contains(" = PRESENT | WRITABLE | GLOBAL | NO_EXECUTE (0x8000000000000103)\n"), "{out}");
    assert!(out.contains("[Inferior 1 (process 1) detached]"), "{out}");
    assert!(!out.contains("Traceback") && !out.contains("Python Exception"), "a script failed:\n{out}");

    // A second attach to the same stub, after the first gdb quit.
    let out = finish(&mut gdb(port, &["mosaic-vmallocinfo", "mosaic-break alloc_area_pte", "detach"]));
    assert!(out.contains("2 areas (tree allocator), 7 pages held by vmalloc"), "{out}");
    assert!(
        contains_line(
            &out,
            "^mosaic-break: mosaic_kernel::mm::pgtable::alloc_area_pte at .* \\(generic: [2-9] copies\\)$"
        ),
        "{out}"
    );
    assert!(out.contains("[Inferior 1 (process 1) detached]"), "{out}");
    // The guest runs on after gdb left.
    s.command_expect("num 64K", "^65536 = 0x10000 = 64 KiB$")?;
    Ok(())
}

/// gdb/mosaic_gdb/layout.py repeats kernel/src/mm/layout.rs's addresses
/// (Rust constants are not in the debug info): they must agree.
#[test]
fn the_gdb_scripts_know_the_kernel_layout() {
    let root = xtask::root();
    let rust = std::fs::read_to_string(root.join("kernel/src/mm/layout.rs")).unwrap();
    let python = std::fs::read_to_string(root.join("gdb/mosaic_gdb/layout.py")).unwrap();
    let value = |text: &str, re: &str| -> Option<u64> {
        let caps = regex::Regex::new(re).unwrap().captures(text)?;
        u64::from_str_radix(&caps[1].replace('_', ""), 16).ok()
    };
    for name in ["PAGE_OFFSET", "VMALLOC_START", "VMALLOC_END", "BOOT_AREA_START", "BOOT_AREA_END", "KERNEL_BASE"] {
        let kernel = value(&rust, &format!(r"pub const {name}: u64 = 0x([0-9a-fA-F_]+);"));
        let script = value(&python, &format!(r"(?m)^{name} = 0x([0-9a-fA-F_]+)$"));
        assert!(kernel.is_some(), "{name} not found in layout.rs");
        assert_eq!(kernel, script, "{name}: layout.rs and gdb/mosaic_gdb/layout.py differ");
    }
    let base = u64::from_str_radix(xtask::gdb::KERNEL_BASE.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(Some(base), value(&rust, r"pub const KERNEL_BASE: u64 = 0x([0-9a-fA-F_]+);"));
}
