//! Every shell command against `fail_page_alloc N`, for N = 1, 2, ... until
//! the command no longer reaches the N-th page allocation: whatever fails,
//! the kernel answers (a result or one `error:` line, never a panic) and,
//! once the command's own result is undone, memory reads exactly as before:
//! free pages plus what bookkeeping keeps (page tables, slab pages, large
//! heap blocks, as meminfo shows them), the heap objects in use (slabinfo),
//! the vmalloc areas and the address spaces. A new command must join the list below (the test checks that
//! every command of `help` is in it or named as left out, with the reason).

use anyhow::{bail, Context, Result};
use mosaic_tests::*;
use regex::Regex;

/// A command to sweep, and how to undo it when it succeeded: `undo` gets
/// the first hex number of the command's output (an address) in `{}`, if
/// it has a `{}`; it may be several commands, separated by "; ".
struct Case {
    command: &'static str,
    undo: Option<&'static str>,
}

const fn case(command: &'static str) -> Case {
    Case { command, undo: None }
}

const fn undone(command: &'static str, undo: &'static str) -> Case {
    Case { command, undo: Some(undo) }
}

/// One invocation of every command that can run under injection.
const CASES: &[Case] = &[
    case("help"),
    case("help vmalloc"),
    case("echo a b c"),
    case("uptime"),
    case("num 64K"),
    case("log info"),
    case("buddyinfo"),
    case("zoneinfo"),
    case("meminfo"),
    case("slabinfo"),
    undone("alloc_pages 2", "free_pages {} 2"),
    case("free_pages 0x1000 0"),
    undone("vmalloc 20000", "vfree {}"),
    undone("vmalloc 9000 zero", "vfree {}"),
    undone("vmalloc 2097152 huge", "vfree {}"),
    case("vfree 0xffffc90000000000"),
    // Lazy frees: the strategy, and a free under it (the purge list's
    // growth is its one allocation; ktests/lazy_purge.rs fails it).
    undone("vfree lazy", "vfree eager"),
    undone("vfree lazy 1", "vfree eager"),
    case("purge"),
    undone("vrealloc 0 20000", "vfree {}"),
    case("vrealloc 0xffffc90000000000 8192"),
    undone("vmap 3", "vunmap {}"),
    case("vunmap 0xffffc90000000000"),
    undone("vm_map_ram 3", "vm_unmap_ram {} 3; vm_unmap_aliases"),
    undone("vm_map_ram 100", "vm_unmap_ram {} 100"),
    case("vm_unmap_ram 0xffffc90000000000 1"),
    case("vm_unmap_aliases"),
    case("vmblocks"),
    undone("ioremap 0xfebf0000 8192", "iounmap {}"),
    undone("ioremap 0xfe000000 0x300000", "iounmap {}"),
    case("iounmap 0xffffc90000000000"),
    case("vmallocinfo"),
    case("pt 0xffffc90000000000"),
    case("pt 0xffff888000000000"),
    case("pt 0xffffc90000000000 json"),
    case("memmap"),
    case("memmap json dma cells=512"),
    case("vmmap"),
    case("vmmap json"),
    case("peek 0xffff888000001000"),
    case("explain 0xffffc90000000000"),
    case("explain 0xffff888000100000"),
    case("poke 0xffff888000001000 0"),
    case("poke_unsafe"),
    case("touch 0xffffc90000000000"),
    undone("as new", "as destroy 1"),
    case("as list"),
    case("as switch 0"),
    case("pgd_sync lazy"),
    case("vmstat"),
    case("stress 20 3"),
    case("huge_bench 2M 1"),
    case("test_vmalloc run_test_mask=1 test_loop_count=3"),
    case("test_vmalloc run_test_mask=1024 test_loop_count=3 plain_vmap=1"),
];

/// Commands of `help` not swept, and why.
const LEFT_OUT: &[(&str, &str)] = &[
    ("fail_page_alloc", "it is the switch itself"),
    ("pgd_bench", "it wants a fresh kernel; tests/aspace.rs sweeps it on its own"),
    ("crash", "it brings the kernel down on purpose; tests/crash.rs runs each kind"),
    ("shutdown", "ends the machine"),
    ("reboot", "restarts the machine"),
];

/// Every allocation point up to this one is tried.
const MAX_N: u64 = 400;
/// Past MAX_N, a command that reaches further (`stress 20 3` reaches
/// some 12,500: its warm-up maps 48 MiB page by page) is tried at every
/// STEP-th point, where the failures are all alike (the warm-up's one
/// vmalloc failing at its k-th page and rolling back), and then at every
/// point of its last TAIL, where the run proper allocates.
const STEP: u64 = 101;
const TAIL: u64 = 160;
/// A count of allocations no command reaches, to measure how far one goes.
const UNREACHED: u64 = 1_000_000_000;

/// Memory as the shell shows it: pages accounted (kB), heap objects in
/// use, areas, spaces. The heap objects are counted apart because a leaked
/// object may take no new page (its slab page had room), and a page taken
/// for the heap moves from MemFree to Slab: the accounted sum sees neither.
/// No heap object is kept on purpose after a failed command (the page
/// tables that are, docs/bad-input.md, are pages, not heap objects).
fn state(s: &mut Session) -> Result<(u64, u64, usize, usize)> {
    let accounted = accounted_kb(s)?;
    let objects = heap_objects(s)?;
    let areas = s.command("vmallocinfo")?.len();
    let spaces = s.command("as list")?.len();
    Ok((accounted, objects, areas, spaces))
}

/// True if the failure set before the command was used up by it.
fn fired(s: &mut Session) -> Result<bool> {
    let line = s.command_expect("fail_page_alloc", "^fail_page_alloc: ")?;
    s.command_expect("fail_page_alloc off", "^fail_page_alloc: off")?;
    Ok(line.starts_with("fail_page_alloc: off"))
}

/// The allocation points to try for a command that reaches `reach`.
fn points(reach: u64) -> Vec<u64> {
    if reach <= MAX_N {
        return (1..=MAX_N).collect();
    }
    let tail = reach.saturating_sub(TAIL).max(MAX_N + 1);
    let sampled = (MAX_N + STEP..tail).step_by(STEP as usize);
    (1..=MAX_N).chain(sampled).chain(tail..reach + STEP).collect()
}

/// Tries `reach`'s points until one is no longer reached; returns the
/// last one reached.
fn sweep(s: &mut Session, case: &Case, hex: &Regex, reach: u64) -> Result<u64> {
    let before = state(s)?;
    let mut last = 0;
    for n in points(reach) {
        if !fail_at(s, case, hex, n, &before)? {
            return Ok(last);
        }
        last = n;
    }
    Ok(last)
}

/// Runs the command with allocation `n` failing and checks the answer and
/// the state after it; true if the failure fired.
fn fail_at(s: &mut Session, case: &Case, hex: &Regex, n: u64, before: &(u64, u64, usize, usize)) -> Result<bool> {
    s.command_expect(&format!("fail_page_alloc {n}"), "^fail_page_alloc: allocation")?;
    let out = s.command(case.command)?;
    if out.iter().any(|l| l.contains("KERNEL PANIC") || l.contains("EXCEPTION")) {
        bail!("`{}` with allocation {n} failing crashed the kernel: {out:?}", case.command);
    }
    let errors = out.iter().filter(|l| l.starts_with("error: ")).count();
    if errors > 0 && out.len() != 1 {
        bail!("`{}` with allocation {n} failing: an error must be one line, got {out:?}", case.command);
    }
    let reached = fired(s)?;
    if errors == 0 {
        undo(s, case, &out, hex)?;
    }
    let after = state(s)?;
    if after != *before {
        bail!(
            "`{}` with allocation {n} failing left memory changed: (kB accounted, heap objects, areas, spaces) {before:?} -> {after:?}; it said {out:?}",
            case.command
        );
    }
    Ok(reached)
}

/// Undoes a command that succeeded, if it has an undo.
fn undo(s: &mut Session, case: &Case, out: &[String], hex: &Regex) -> Result<()> {
    if let Some(undo) = case.undo {
        let addr = match undo.contains("{}") {
            true => out.iter().find_map(|l| hex.find(l)).context("no address in the output")?.as_str(),
            false => "",
        };
        for undo in undo.split("; ").map(|u| u.replace("{}", addr)) {
            let answer = s.command(&undo)?;
            if answer.iter().any(|l| l.starts_with("error: ")) {
                bail!("`{undo}` after `{}`: {answer:?}", case.command);
            }
        }
    }
    Ok(())
}

/// Runs the command once without injection and returns how many page
/// allocations it made (the counter `fail_page_alloc` shows).
fn reach(s: &mut Session, case: &Case, hex: &Regex) -> Result<u64> {
    s.command_expect(&format!("fail_page_alloc {UNREACHED}"), "^fail_page_alloc: allocation")?;
    let out = s.command(case.command)?;
    let line = s.command_expect("fail_page_alloc", "^fail_page_alloc: ")?;
    s.command_expect("fail_page_alloc off", "^fail_page_alloc: off")?;
    if !out.iter().any(|l| l.starts_with("error: ")) {
        undo(s, case, &out, hex)?;
    }
    let left = Regex::new(r"^fail_page_alloc: allocation (\d+) from now")?
        .captures(&line)
        .with_context(|| format!("no count in {line:?}"))?[1]
        .parse::<u64>()?;
    Ok(UNREACHED - left)
}

#[test]
fn every_command_survives_a_failure_at_every_allocation_point() -> Result<()> {
    let mut s = shell("inject-sweep")?;
    let help = s.command("help")?;
    let names: Vec<&str> = help.iter().filter_map(|l| l.split_whitespace().next()).collect();
    for name in &names {
        let first = |text: &'static str| text.split_whitespace().next();
        let swept = CASES.iter().any(|c| first(c.command) == Some(name) || c.undo.and_then(first) == Some(name));
        let left = LEFT_OUT.iter().any(|(n, _)| n == name);
        assert!(swept || left, "command `{name}` is in help but neither swept nor left out with a reason");
    }
    // A first run of each command without injection, so that first-use
    // bookkeeping (page tables, slab pages) is in place before counting;
    // a second one measures how far it reaches.
    let hex = Regex::new("0x[0-9a-f]+").unwrap();
    for case in CASES {
        let out = s.command(case.command)?;
        if !out.iter().any(|l| l.starts_with("error: ")) {
            undo(&mut s, case, &out, &hex)?;
        }
    }
    let mut reached = Vec::new();
    for case in CASES {
        let far = reach(&mut s, case, &hex)?;
        let n = sweep(&mut s, case, &hex, far).with_context(|| format!("sweeping `{}`", case.command))?;
        reached.push(format!("{} {n}", case.command));
    }
    eprintln!("allocation points reached: {}", reached.join(", "));
    s.command_expect("echo still here", "^still here$")?;
    Ok(())
}

/// vmallocs until not even one page is left; returns the areas.
fn fill_memory(s: &mut Session, hex: &Regex) -> Result<Vec<String>> {
    let mut areas = Vec::new();
    for size in ["64M", "4M", "256K", "16K", "4K"] {
        loop {
            let out = s.command(&format!("vmalloc {size}"))?;
            match out.iter().find_map(|l| hex.find(l)) {
                Some(addr) if !out[0].starts_with("error: ") => areas.push(addr.as_str().to_string()),
                _ => break,
            }
        }
    }
    Ok(areas)
}

#[test]
fn every_command_answers_when_memory_is_full() -> Result<()> {
    let mut s = shell("full-memory")?;
    let hex = Regex::new("0x[0-9a-f]+").unwrap();
    // The area allocator makes its bookkeeping (the tree's node arenas
    // and busy-area index: a few heap objects) at its first use and keeps
    // it, as Linux keeps its vmap_area cache: put it in place first.
    let first = s.command("vmalloc 4096")?;
    let addr = first.iter().find_map(|l| hex.find(l)).context("vmalloc 4096 gave no address")?.as_str().to_string();
    s.command_expect(&format!("vfree {addr}"), "^freed ")?;
    let before = state(&mut s)?;
    let areas = fill_memory(&mut s, &hex)?;
    assert!(areas.len() > 3, "memory did not fill: {areas:?}");
    for case in CASES {
        let out = s.command(case.command).with_context(|| format!("`{}` with memory full", case.command))?;
        let errors = out.iter().filter(|l| l.starts_with("error: ")).count();
        assert!(errors == 0 || out.len() == 1, "`{}` with memory full: {out:?}", case.command);
        if errors == 0 {
            undo(&mut s, case, &out, &hex)?;
        }
    }
    // The first area may already be gone: the `vfree` case names its address.
    for addr in &areas {
        s.command_expect(&format!("vfree {addr}"), "^freed |is not in any vmalloc area")?;
    }
    assert_eq!(state(&mut s)?, before, "(kB accounted, heap objects, areas, spaces) after filling and freeing memory");
    s.command_expect("echo still here", "^still here$")?;
    Ok(())
}
