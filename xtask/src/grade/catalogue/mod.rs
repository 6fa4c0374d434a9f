//! What each lab's grade is made of: the tests, their points, and the shell
//! scenarios written for grading.
//!
//! Every lab is out of 100. A scenario draws its sizes, counts, orders and
//! patterns from `Rng`, so each run asks for different values; it bails
//! with what it expected and what it got. docs/instructors.md lists what
//! each test checks; keep the two in step.
//!
//! Lab 2 and part A of lab 4 boot with `vmalloc=list`: lab 2 is about the
//! list allocator, and lab 4's skeleton has the tree (its challenge part)
//! stubbed out, so its other tests must not depend on it.
//!
//! This file holds what the labs share: the kinds of graded test, the
//! constants of the machine, and the helpers that read the shell's answers.
//! Each lab's tests and scenarios are in `lab<n>.rs`.

mod lab1;
mod lab2;
mod lab3;
mod lab4;
mod lab5;

use super::{Check, Graded, Rng};
use crate::session::Session;
use anyhow::{ensure, Context, Result};
use regex::Regex;

const LIST: &str = "vmalloc=list";
const VMALLOC_START: u64 = 0xffff_c900_0000_0000;
const PAGE: u64 = 4096;
const HPET: u64 = 0xfed0_0000;

const fn host(name: &'static str, points: u32) -> Graded {
    Graded { name, points, check: Check::Host(name), timeout: 180 }
}

const fn kernel(test: &'static str, points: u32, cmdline: &'static str) -> Graded {
    Graded { name: test, points, check: Check::Kernel { test, cmdline }, timeout: 90 }
}

const fn shell(name: &'static str, points: u32, run: super::Scenario, cmdline: &'static str) -> Graded {
    Graded { name, points, check: Check::Shell { run, cmdline }, timeout: 90 }
}

/// The graded tests of lab `id`, in the order they are reported.
pub fn tests(id: u32) -> Vec<Graded> {
    match id {
        1 => lab1::tests(),
        2 => lab2::tests(),
        3 => lab3::tests(),
        4 => lab4::tests(),
        5 => lab5::tests(),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// Reading the shell's answers
// ---------------------------------------------------------------------------

fn hex(s: &str) -> Result<u64> {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).with_context(|| format!("'{s}' is not a hex number"))
}

/// The address a command's answer starts with.
fn first_addr(line: &str) -> Result<u64> {
    hex(line.split_whitespace().next().unwrap_or(""))
}

/// Runs `line` and requires one `error: ` line mentioning `what`.
fn expect_error(s: &mut Session, line: &str, what: &str) -> Result<String> {
    s.command_expect(line, &format!("^error: .*{}", regex::escape(what)))
        .with_context(|| format!("expected `{line}` to be refused with an error about '{what}'"))
}

/// Free blocks per order in the DMA zone, from `buddyinfo`.
fn dma_free(s: &mut Session) -> Result<Vec<u64>> {
    let lines = s.command("buddyinfo")?;
    let line =
        lines.iter().find(|l| l.split_whitespace().nth(3) == Some("DMA")).context("buddyinfo has no DMA line")?;
    line.split_whitespace().skip(4).map(|n| n.parse().context("buddyinfo count")).collect()
}

/// One field of `meminfo`, in kB.
fn meminfo(s: &mut Session, field: &str) -> Result<u64> {
    let lines = s.command("meminfo")?;
    let line =
        lines.iter().find(|l| l.starts_with(&format!("{field}:"))).with_context(|| format!("no {field} in meminfo"))?;
    line.split_whitespace().nth(1).context("meminfo value")?.parse().context("meminfo value")
}

/// A counter of `vmstat`.
fn vmstat(s: &mut Session, name: &str) -> Result<u64> {
    let lines = s.command("vmstat")?;
    let line =
        lines.iter().find(|l| l.starts_with(&format!("{name} "))).with_context(|| format!("no {name} in vmstat"))?;
    line.split_whitespace().nth(1).context("vmstat value")?.parse().context("vmstat value")
}

/// `vmallocinfo` as (start, size, the rest of the line).
fn vmallocinfo(s: &mut Session) -> Result<Vec<(u64, u64, String)>> {
    let re = Regex::new(r"^(0x[0-9a-f]+)-0x[0-9a-f]+ +(\d+) (.*)$")?;
    s.command("vmallocinfo")?
        .iter()
        .map(|l| {
            let c = re.captures(l).with_context(|| format!("unexpected vmallocinfo line {l:?}"))?;
            Ok((hex(&c[1])?, c[2].parse()?, c[3].to_string()))
        })
        .collect()
}

/// Writes `value` at `addr` with `poke` and checks the echo.
fn poke(s: &mut Session, addr: u64, value: u64) -> Result<()> {
    s.command_expect(&format!("poke {addr:#x} {value:#x}"), &format!("^{addr:#x}: wrote {value:#x}$")).map(drop)
}

/// Reads 64 bits at `addr` with `peek` and requires `value`.
fn peek_is(s: &mut Session, addr: u64, value: u64, why: &str) -> Result<()> {
    let lines = s.command(&format!("peek {addr:#x}"))?;
    let want = format!("{addr:#x}: {value:#018x}");
    ensure!(lines == [want.clone()], "`peek {addr:#x}` ({why}): expected `{want}`, got {lines:?}");
    Ok(())
}

/// The flags of the last entry `pt` shows and the physical address, if
/// the walk reached a page.
fn pt(s: &mut Session, addr: u64) -> Result<(Vec<String>, Option<u64>)> {
    let lines = s.command(&format!("pt {addr:#x}"))?;
    let last_entry =
        lines.iter().rev().find(|l| l.contains(" = ")).with_context(|| format!("`pt {addr:#x}`: {lines:?}"))?;
    let flags = last_entry.split_whitespace().skip(3).map(String::from).collect();
    let phys = match lines.last().and_then(|l| l.strip_prefix("-> physical ")) {
        Some(p) => Some(hex(p)?),
        None => None,
    };
    Ok((flags, phys))
}

fn has_flags(flags: &[String], want: &[&str]) -> bool {
    want.iter().all(|w| flags.iter().any(|f| f == w))
}

/// A random 8-byte-aligned offset inside a page.
fn offset(rng: &mut Rng) -> u64 {
    rng.range(0, PAGE / 8 - 1) * 8
}

// ---------------------------------------------------------------------------
// vmalloc, vfree and test_vmalloc from the shell (labs 2 to 5)
// ---------------------------------------------------------------------------

/// `vmalloc <size>`; returns the address and the page count.
fn vmalloc(s: &mut Session, bytes: u64) -> Result<(u64, u64)> {
    let pages = bytes.div_ceil(PAGE);
    let line = s.command_expect(
        &format!("vmalloc {bytes}"),
        &format!(r"^0x[0-9a-f]+ \({pages} pages mapped, {} bytes, plus 1 guard page\)$", pages * PAGE),
    )?;
    let addr = first_addr(&line)?;
    ensure!(addr % PAGE == 0 && addr >= VMALLOC_START, "vmalloc returned {addr:#x}: not a page in the vmalloc area");
    Ok((addr, pages))
}

fn vfree(s: &mut Session, addr: u64, pages: u64) -> Result<()> {
    s.command_expect(
        &format!("vfree {addr:#x}"),
        &format!(r"^freed {addr:#x} \({pages} pages mapped, plus 1 guard page\)$"),
    )
    .map(drop)
}

/// Pokes every (address, pattern) of `spots`, then reads each back and
/// walks its page table: the pattern must be there, and the PTE must have
/// every flag of `set` and none of `clear`. Returns how many distinct
/// frames the spots lie in.
fn write_and_verify(s: &mut Session, spots: &[(u64, u64)], set: &[&str], clear: &[&str]) -> Result<usize> {
    for &(at, value) in spots {
        poke(s, at, value)?;
    }
    let mut frames = Vec::new();
    for &(at, value) in spots {
        peek_is(s, at, value, "the pattern written there")?;
        let (flags, phys) = pt(s, at)?;
        ensure!(
            has_flags(&flags, set) && !flags.iter().any(|f| clear.contains(&f.as_str())),
            "PTE of {at:#x} has flags {flags:?}: expected {} and none of {clear:?}",
            set.join(" ")
        );
        frames.push(phys.context("mapped page without a physical address")? & !(PAGE - 1));
    }
    frames.sort();
    frames.dedup();
    Ok(frames.len())
}
/// Runs `test_vmalloc` with `args`; requires every case in `cases` to
/// pass with `loops` loops, and no leak reported.
fn test_vmalloc(s: &mut Session, args: &str, cases: &[&str], loops: u64) -> Result<Vec<String>> {
    let lines = s.command(&format!("test_vmalloc {args} test_loop_count={loops}"))?;
    for case in cases {
        let want = format!("Summary: {case} passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: {loops} avg: ");
        ensure!(lines.iter().any(|l| l.starts_with(&want)), "expected a line starting `{want}`, got {lines:?}");
    }
    ensure!(!lines.iter().any(|l| l.starts_with("error:")), "test_vmalloc reported an error: {lines:?}");
    Ok(lines)
}
