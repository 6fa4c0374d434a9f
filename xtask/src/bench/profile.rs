//! `cargo xtask bench --part profile --case <name> [--loops N]`: where one
//! test_vmalloc case's guest instructions go, function by function, counted
//! exactly rather than sampled.
//!
//! Method. The release kernel boots twice under `-icount shift=0,sleep=off`
//! with QEMU's `-d in_asm,exec,nochain` log restricted (`-dfilter`) to the
//! kernel's text: `in_asm` prints each translation block (TB) as it is
//! translated (its instructions under `IN:`), `exec` prints a `Trace` line
//! each time a TB runs, and `nochain` makes every run of a TB go through
//! the loop that prints it. Run A runs the case N times, run B 2N times.
//! For every TB, (runs in B - runs in A) x (instructions in the TB) is the
//! work of N more loops; summed per kernel function and divided by N it is
//! that function's instructions per loop. The runs of the TB that starts at
//! a function's address are its calls. Everything outside the loop (the
//! boot, long_busy_list's 15000 busy areas) is the same in both runs and
//! cancels out.
//!
//! Two details keep the count exact. Only the runs from the first entry
//! into the case's function (`bench::test_vmalloc::<case>`) to the last
//! TB run in it are counted: the shell waits for the host before and
//! after, and with `sleep=off` the timer ticks it takes meanwhile depend
//! on the host's speed (on a loaded host they once added 150 instructions
//! per loop to fix_size). And the disassembly puts the bytes of an
//! instruction longer than 8 bytes on a second `0x<address>:` line with no
//! mnemonic, which is no instruction (counting it added 39 instructions
//! per loop to fix_size, 1.9%).
//!
//! Limits:
//! - A TB cut short by an exception or an interrupt is counted whole (QEMU
//!   logs its start, not how far it got); page faults in the loop would
//!   overcount, which the vmalloc cases do not take.
//! - A `rep`-prefixed string instruction ends its TB, and each further
//!   iteration runs a TB of that one instruction (the log shows the same
//!   `Trace` line once per iteration), so an iteration counts as one
//!   instruction, as `-icount` counts it.
//! - Calls are runs of a function's first TB: a loop that jumps back to a
//!   function's first instruction counts a call per turn.
//! - Only kernel text is counted (nothing else runs in a Mosaic guest, but
//!   the firmware's code before the kernel would not be).
//! - Interrupts that fall in the loop (the timer) are counted where they
//!   run, as they are in the bench's own figure; a run that QEMU stopped
//!   at a TB's start and redid as a shorter TB is taken back.
//!
//! The logs (1-2 GB each for long_busy_list) go to target/bench/profile/,
//! are read line by line, and are deleted once read.

use super::{boot, group, parse_case, shut_down, Allocator, CASES};
use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, SectionKind};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use xtask::build::{self, Profile};
use xtask::session::TestEnv;

/// Rows of the table printed.
const TOP: usize = 30;
/// Longest function name printed (longer ones are cut in the middle).
const NAME_WIDTH: usize = 72;

/// The bit in run_test_mask of the case `name`, or an error listing the
/// cases there are.
pub fn case_bit(name: &str) -> Result<u32> {
    match CASES.iter().find(|c| c.name == name) {
        Some(c) => Ok(c.bit),
        None => {
            let names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
            bail!("--case {name:?} is not a test_vmalloc case; the cases are: {}", names.join(", "))
        }
    }
}

/// Profiles `case` (run N = `loops` and 2N times) and prints where its
/// instructions per loop go; false if a run failed.
pub fn run(env: &TestEnv, case: &str, loops: u64) -> Result<bool> {
    let bit = case_bit(case)?;
    let kernel = build::kernel_path(Profile::Release);
    let symbols = Symbols::read(&kernel)?;
    let dir = xtask::target_dir().join("bench").join("profile");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    println!("\n==> profile of {case}: run A {loops} loops, run B {} loops (tree allocator, -icount)", 2 * loops);
    let (a, fig_a) = logged_run(env, &symbols, bit, loops, &dir.join(format!("{case}-a.log")))?;
    let (b, fig_b) = logged_run(env, &symbols, bit, 2 * loops, &dir.join(format!("{case}-b.log")))?;
    let profile = subtract(&a, &b, &symbols, loops);
    print(&profile, loops, fig_a, fig_b);
    Ok(fig_a.is_some() && fig_b.is_some())
}

/// Boots a machine logging its kernel's TBs into `log`, runs the case of
/// `bit` `loops` times, and reads the log (deleted after). Returns the
/// counts and the bench's own per-loop figure, if the case passed.
fn logged_run(env: &TestEnv, symbols: &Symbols, bit: u32, loops: u64, log: &Path) -> Result<(Counts, Option<Figure>)> {
    let name = CASES.iter().find(|c| c.bit == bit).map_or("?", |c| c.name);
    let window = symbols.function(&format!("bench::test_vmalloc::{name}"))?;
    let (start, end) = symbols.text;
    let mut env = env.clone();
    env.qemu_args.extend(
        ["-d", "in_asm,exec,nochain", "-dfilter", &format!("{start:#x}..{:#x}", end - 1), "-D"].map(String::from),
    );
    env.qemu_args.push(log.display().to_string());
    eprintln!("    {name}, {loops} loops, logging to {}", log.display());
    let run = || -> Result<Option<Figure>> {
        let mut s = boot(&env, Allocator::Tree)?;
        let line = format!("test_vmalloc run_test_mask={} test_loop_count={loops}", 1u32 << bit);
        let lines = s.command(&line).with_context(|| format!("running {line}"))?;
        shut_down(s, Allocator::Tree)?;
        let khz = lines.iter().find_map(|l| tsc_khz(l));
        Ok(parse_case(name, &lines)
            .filter(|m| m.ok)
            .zip(khz)
            .map(|(m, khz)| Figure { ns_per_loop: m.ns_per_loop, khz }))
    };
    let result = run().and_then(|measured| Ok((read_log(log, window)?, measured)));
    // Deleted whatever happened: a log is gigabytes.
    let _ = std::fs::remove_file(log);
    let (counts, measured) = result?;
    if measured.is_none() {
        eprintln!("    {name} failed or reported no figure with {loops} loops");
    }
    Ok((counts, measured))
}

/// The bench's own figure for one run: ns per loop, which it computes from
/// TSC cycles (one per instruction under -icount) with the TSC's rate as
/// the kernel calibrated it against the PIT.
#[derive(Clone, Copy)]
struct Figure {
    ns_per_loop: u64,
    khz: u64,
}

impl Figure {
    /// The figure in instructions: ns x the calibrated GHz.
    fn instructions(self) -> u64 {
        (self.ns_per_loop as u128 * self.khz as u128 / 1_000_000) as u64
    }
}

/// The TSC rate in test_vmalloc's header, `... TSC 1018.250 MHz, ...`.
fn tsc_khz(line: &str) -> Option<u64> {
    let rest = line.strip_prefix("test_vmalloc: ")?.split_once("TSC ")?.1;
    let (mhz, frac) = rest.split_once(" MHz")?.0.split_once('.')?;
    Some(mhz.parse::<u64>().ok()? * 1000 + frac.parse::<u64>().ok()?)
}

/// Opens and parses one log, counting from the first entry into `window`
/// to the last run in it.
fn read_log(log: &Path, window: (u64, u64)) -> Result<Counts> {
    let file = std::fs::File::open(log).with_context(|| format!("opening QEMU's log {}", log.display()))?;
    parse(BufReader::with_capacity(1 << 20, file), window).with_context(|| format!("reading {}", log.display()))
}

/// One translation: start pc, CPU state flags and compile flags (a TB
/// retranslated with other flags, e.g. one instruction long after an I/O
/// access under -icount, is another TB).
type Key = (u64, u64, u64);

/// What one log says: instructions per TB, and how often each TB ran.
#[derive(Default, Debug)]
struct Counts {
    size: HashMap<Key, u64>,
    runs: HashMap<Key, u64>,
    /// Runs of TBs whose translation the log does not show.
    unsized_runs: u64,
    /// Runs logged but undone: a TB that stopped at its start (or, for an
    /// I/O access, was rolled back) and was run again as a TB of fewer
    /// instructions (see `parse`).
    undone_runs: u64,
}

/// QEMU's CF_COUNT_MASK: the compile flags' instruction limit, set on a TB
/// made to run only what the icount budget has left, or to end at an I/O
/// access (include/exec/exec-all.h).
const CF_COUNT_MASK: u64 = 0x1ff;

/// Reads a `-d in_asm,exec,nochain` log: `IN:` blocks (one `0x<pc>:` line
/// per instruction, ending at a blank line) and `Trace` lines. Only runs
/// from the first entry into `window` (the case's function) to the last
/// TB run inside it are counted: the shell's idle time before and after
/// (timer ticks, as many as the host takes to answer) stays out.
fn parse(mut log: impl BufRead, window: (u64, u64)) -> Result<Counts> {
    let mut counts = Counts::default();
    // The block being read (first pc, instructions), the last finished one
    // that no Trace line has claimed yet, and each pc's latest size.
    let mut block: Option<(u64, u64)> = None;
    let mut fresh: Option<(u64, u64)> = None;
    let mut latest: HashMap<u64, u64> = HashMap::new();
    let mut runs = Runs { started: false, pending: Vec::new(), previous: None, window };
    let mut line = Vec::new();
    loop {
        line.clear();
        if log.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let text = line.trim_ascii_end();
        if text.starts_with(b"IN:") {
            block = Some((0, 0));
        } else if let (Some((first, n)), Some(pc)) = (block.as_mut(), instruction_pc(text)) {
            if *n == 0 {
                *first = pc;
            }
            *n += 1;
        } else if text.starts_with(b"Trace ") {
            let key =
                trace_key(text).with_context(|| format!("unreadable line {:?}", String::from_utf8_lossy(text)))?;
            end_block(&mut block, &mut fresh, &mut latest);
            let size = match fresh.take() {
                Some((pc, n)) if pc == key.0 => Some(n),
                other => {
                    fresh = other;
                    counts.size.get(&key).copied().or_else(|| latest.get(&key.0).copied())
                }
            };
            match size {
                Some(n) => {
                    counts.size.insert(key, n);
                    runs.add(&mut counts, key);
                }
                None => counts.unsized_runs += 1,
            }
        } else if text.is_empty() {
            end_block(&mut block, &mut fresh, &mut latest);
        }
    }
    Ok(counts)
}

/// The runs of TBs being counted: those after the first entry into the
/// window are held in `pending` until a run inside the window again
/// confirms they were part of it.
struct Runs {
    started: bool,
    pending: Vec<Key>,
    /// The last run seen, and whether it is held in `pending`.
    previous: Option<(Key, bool)>,
    window: (u64, u64),
}

impl Runs {
    fn add(&mut self, counts: &mut Counts, key: Key) {
        if let Some((previous, held)) = self.previous {
            if held && undone(previous, key) {
                // Held back still, or counted already.
                if self.pending.last() == Some(&previous) {
                    self.pending.pop();
                } else if let Some(runs) = counts.runs.get_mut(&previous).filter(|r| **r > 0) {
                    *runs -= 1;
                }
                counts.undone_runs += 1;
            }
        }
        let inside = (self.window.0..self.window.1).contains(&key.0);
        self.started |= inside;
        self.previous = Some((key, self.started));
        if !self.started {
            return;
        }
        self.pending.push(key);
        if inside {
            for k in self.pending.drain(..) {
                *counts.runs.entry(k).or_default() += 1;
            }
        }
    }
}

/// Under -icount a TB that does not fit the instruction budget left stops
/// before its first instruction (and one with an I/O access in its middle
/// is rolled back to its start); QEMU then runs the same pc as a TB limited
/// to what may run. The `Trace` line of the stopped run comes right before
/// the limited TB's: that run did nothing, and is taken back.
fn undone(previous: Key, key: Key) -> bool {
    key.2 & CF_COUNT_MASK != 0 && previous.0 == key.0 && previous.2 & CF_COUNT_MASK == 0
}

/// Closes the `IN:` block being read, if any.
fn end_block(block: &mut Option<(u64, u64)>, fresh: &mut Option<(u64, u64)>, latest: &mut HashMap<u64, u64>) {
    if let Some((pc, n)) = block.take().filter(|&(_, n)| n > 0) {
        latest.insert(pc, n);
        *fresh = Some((pc, n));
    }
}

/// The address of a disassembly line `0xffffffff80042260:  55  pushq %rbp`.
/// An instruction of more than 8 bytes goes on with a line of its own that
/// has an address and bytes but no mnemonic: that one is no instruction.
fn instruction_pc(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"0x")?;
    let end = rest.iter().position(|&c| c == b':')?;
    let bytes_only = rest[end + 1..]
        .split(|c| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .all(|w| w.len() == 2 && w.iter().all(u8::is_ascii_hexdigit));
    if bytes_only {
        return None;
    }
    hex(&rest[..end])
}

/// The TB of `Trace 0: 0x7f04.. [cs_base/pc/flags/cflags] symbol`.
fn trace_key(line: &[u8]) -> Option<Key> {
    let open = line.iter().position(|&c| c == b'[')?;
    let close = open + line[open..].iter().position(|&c| c == b']')?;
    let mut fields = line[open + 1..close].split(|&c| c == b'/');
    let _cs_base = fields.next()?;
    let (pc, flags, cflags) = (hex(fields.next()?)?, hex(fields.next()?)?, hex(fields.next()?)?);
    Some((pc, flags, cflags))
}

fn hex(digits: &[u8]) -> Option<u64> {
    u64::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// The kernel's functions at their run-time addresses, and its text.
struct Symbols {
    /// (start, end, short name), sorted by start, one per start.
    functions: Vec<(u64, u64, String)>,
    /// The text sections' range [start, end).
    text: (u64, u64),
    /// Where the kernel runs (KERNEL_BASE); link address = address - base.
    base: u64,
}

impl Symbols {
    /// Reads the unstripped kernel ELF, which is linked at 0 and runs at
    /// KERNEL_BASE.
    fn read(kernel: &Path) -> Result<Symbols> {
        let base = u64::from_str_radix(xtask::gdb::KERNEL_BASE.trim_start_matches("0x"), 16)?;
        let data = std::fs::read(kernel).with_context(|| format!("reading {}", kernel.display()))?;
        let elf = object::File::parse(&*data).with_context(|| format!("{} is not an ELF file", kernel.display()))?;
        let texts: Vec<(u64, u64)> = elf
            .sections()
            .filter(|s| s.kind() == SectionKind::Text)
            .map(|s| (s.address(), s.address() + s.size()))
            .collect();
        let (Some(start), Some(end)) = (texts.iter().map(|t| t.0).min(), texts.iter().map(|t| t.1).max()) else {
            bail!("{} has no text section", kernel.display())
        };
        // The same functions, named the same way, as the oops's table.
        let functions = xtask::symtab::functions(&elf)
            .into_iter()
            .map(|f| (f.start + base, f.start + base + f.size, f.name))
            .collect();
        Ok(Symbols::new(functions, (start + base, end + base), base))
    }

    fn new(mut functions: Vec<(u64, u64, String)>, text: (u64, u64), base: u64) -> Symbols {
        functions.sort_by_key(|f| (f.0, std::cmp::Reverse(f.1)));
        functions.dedup_by_key(|f| f.0);
        Symbols { functions, text, base }
    }

    /// The range of the function called `name`.
    fn function(&self, name: &str) -> Result<(u64, u64)> {
        let f = self.functions.iter().find(|f| f.2 == name);
        f.map(|f| (f.0, f.1)).with_context(|| format!("the kernel has no function {name} (renamed or inlined?)"))
    }

    /// The index of the function holding `pc`.
    fn find(&self, pc: u64) -> Option<usize> {
        let i = self.functions.partition_point(|f| f.0 <= pc).checked_sub(1)?;
        (pc < self.functions[i].1).then_some(i)
    }
}

/// One function's share of a loop.
#[derive(Debug, PartialEq)]
struct Row {
    name: String,
    instructions: f64,
    calls: f64,
}

/// Instructions per loop in all, and by function, most first.
#[derive(Debug)]
struct Report {
    total: f64,
    rows: Vec<Row>,
    unsized_runs: u64,
    /// Logged runs taken back (`undo_cut_run`), per loop.
    undone: f64,
}

/// B minus A, per function, per loop (`loops` = B's loops - A's).
fn subtract(a: &Counts, b: &Counts, symbols: &Symbols, loops: u64) -> Report {
    let per_loop = |n: i128| n as f64 / loops as f64;
    // Index into symbols.functions; None for pcs outside every function.
    let mut by_function: HashMap<Option<usize>, (i128, i128)> = HashMap::new();
    let keys = a.runs.keys().chain(b.runs.keys().filter(|k| !a.runs.contains_key(k)));
    for key in keys {
        let runs = |c: &Counts| c.runs.get(key).copied().unwrap_or(0) as i128;
        let more = runs(b) - runs(a);
        let size = b.size.get(key).or_else(|| a.size.get(key)).copied().unwrap_or(0) as i128;
        let f = symbols.find(key.0);
        let entry = by_function.entry(f).or_default();
        entry.0 += more * size;
        if f.is_some_and(|i| symbols.functions[i].0 == key.0) {
            entry.1 += more;
        }
    }
    let total = per_loop(by_function.values().map(|v| v.0).sum());
    let mut rows: Vec<(Option<usize>, Row)> = by_function
        .into_iter()
        .filter(|(_, (n, calls))| *n != 0 || *calls != 0)
        .map(|(f, (n, calls))| {
            let name = f.map_or("(outside every function)".to_string(), |i| symbols.functions[i].2.clone());
            (f, Row { name, instructions: per_loop(n), calls: per_loop(calls) })
        })
        .collect();
    rows.sort_by(|x, y| y.1.instructions.total_cmp(&x.1.instructions).then(x.1.name.cmp(&y.1.name)));
    distinguish(&mut rows, symbols);
    let unsized_runs = a.unsized_runs.max(b.unsized_runs);
    let undone = per_loop(b.undone_runs as i128 - a.undone_runs as i128);
    Report { total, rows: rows.into_iter().map(|(_, r)| r).collect(), unsized_runs, undone }
}

/// Shortens each name to NAME_WIDTH, and gives rows whose names are then
/// the same (instances of one generic function) their link address.
fn distinguish(rows: &mut [(Option<usize>, Row)], symbols: &Symbols) {
    for (_, row) in rows.iter_mut() {
        row.name = shorten(&row.name);
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (_, row) in rows.iter() {
        *seen.entry(row.name.clone()).or_default() += 1;
    }
    for (f, row) in rows.iter_mut() {
        if let (Some(i), true) = (f, seen[&row.name] > 1) {
            row.name = format!("{} @{:#x}", row.name, symbols.functions[*i].0 - symbols.base);
        }
    }
}

/// `name` cut to NAME_WIDTH characters, keeping its start and its end (the
/// method's own name).
fn shorten(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= NAME_WIDTH {
        return name.to_string();
    }
    let keep = (NAME_WIDTH - 3) / 2;
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[chars.len() - (NAME_WIDTH - 3 - keep)..].iter().collect();
    format!("{head}...{tail}")
}

fn print(report: &Report, loops: u64, a: Option<Figure>, b: Option<Figure>) {
    println!("  instructions per loop, from the profile (B - A, in-loop work only): {:.1}", report.total);
    if let (Some(fa), Some(fb)) = (a, b) {
        let (ia, ib) = (fa.instructions(), fb.instructions());
        println!(
            "  the bench's own figure (whole case / loops, setup included): run A {} ns, run B {} ns \
             (TSC {}.{:03} MHz: {} and {} instructions)",
            group(fa.ns_per_loop),
            group(fb.ns_per_loop),
            fb.khz / 1000,
            fb.khz % 1000,
            group(ia),
            group(ib)
        );
        // a = S/N + L and b = S/2N + L, so S = 2N(a - b) and L = 2b - a
        // (to the figures' rounding: S to 2N, L to 2).
        let (setup, in_loop) = (2 * loops * ia.saturating_sub(ib), (2 * ib).saturating_sub(ia));
        println!(
            "  so the case runs about {} instructions outside its loop but inside its timing (2N x (A - B)), \
             and {} per loop in it (2B - A)",
            group(setup),
            group(in_loop)
        );
    }
    let entries: f64 = report.rows.iter().map(|r| r.calls).sum();
    println!("  function entries (calls, and jumps to a function's start) per loop: {entries:.1}");
    println!("  TB runs logged but undone by QEMU (-icount budget, I/O), not counted: {:.2} per loop", report.undone);
    if report.unsized_runs > 0 {
        println!("  warning: {} TB runs had no translation in the log and are not counted", report.unsized_runs);
    }
    println!("\n  {:>10} {:>8} {:>6}  function", "insns", "calls", "share");
    for row in report.rows.iter().take(TOP) {
        let share = if report.total != 0.0 { 100.0 * row.instructions / report.total } else { 0.0 };
        println!("  {:>10.1} {:>8.2} {:>5.1}%  {}", row.instructions, row.calls, share, row.name);
    }
    let rest: f64 = report.rows.iter().skip(TOP).map(|r| r.instructions).sum();
    if report.rows.len() > TOP {
        println!("  {rest:>10.1} {:>8} {:>6}  ({} more functions)", "", "", report.rows.len() - TOP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run A: f (0x1000..0x1010) called twice, its second TB run twice;
    /// g (0x1010..0x1020) once; then f's first TB is rolled back at once
    /// and run again cut to one instruction (other compile flags: another
    /// TB), so f has three calls.
    const LOG_A: &str = "\
----------------
IN: 
0x0000000000001000:  55                       pushq    %rbp
0x0000000000001001:  48 89 e5                 movq     %rsp, %rbp
0x0000000000001004:  eb 02                    jmp      0x1008

Trace 0: 0x7f00 [0000000000000000/0000000000001000/0000c0b0/ff020200] 
----------------
IN: 
0x0000000000001008:  48 b8 00 00 00 00 00 00  movabsq  $0x1000000000000, %rax
0x0000000000001010:  01 00
0x0000000000001012:  c3                       retq     

Trace 0: 0x7f40 [0000000000000000/0000000000001008/0000c0b0/ff020200] 
Trace 0: 0x7f00 [0000000000000000/0000000000001000/0000c0b0/ff020200] 
Trace 0: 0x7f40 [0000000000000000/0000000000001008/0000c0b0/ff020200] 
----------------
IN: 
0x0000000000001010:  f3 48 ab                 rep stosq %rax, (%rdi)

Trace 0: 0x7f80 [0000000000000000/0000000000001010/0000c0b0/ff020200] 
Trace 0: 0x7f00 [0000000000000000/0000000000001000/0000c0b0/ff020200] 
cpu_io_recompile: rewound execution of TB to 0000000000001000
----------------
IN: 
0x0000000000001000:  55                       pushq    %rbp

Trace 0: 0x7fc0 [0000000000000000/0000000000001000/0000c0b0/ff028201] 
";

    /// Run B: A plus f once more, g's rep three more iterations, and h
    /// (0x1020, translated in this run only) twice, 4 instructions each.
    fn log_b() -> String {
        LOG_A.to_string()
            + "\
Trace 0: 0x7f00 [0000000000000000/0000000000001000/0000c0b0/ff020200] 
Trace 0: 0x7f40 [0000000000000000/0000000000001008/0000c0b0/ff020200] 
Trace 0: 0x7f80 [0000000000000000/0000000000001010/0000c0b0/ff020200] 
Trace 0: 0x7f80 [0000000000000000/0000000000001010/0000c0b0/ff020200] 
Trace 0: 0x7f80 [0000000000000000/0000000000001010/0000c0b0/ff020200] 
----------------
IN: 
0x0000000000001020:  90                       nop
0x0000000000001021:  90                       nop
0x0000000000001022:  90                       nop
0x0000000000001023:  c3                       retq     

Trace 0: 0x8000 [0000000000000000/0000000000001020/0000c0b0/ff020200] 
Trace 0: 0x8000 [0000000000000000/0000000000001020/0000c0b0/ff020200] 
"
    }

    /// A window holding every pc: every run counts.
    const ALL: (u64, u64) = (0, u64::MAX);

    #[test]
    fn only_runs_from_the_first_entry_into_the_window_to_the_last_run_in_it_count() {
        // f (0x1000) is the window: g's rep TB before f's first run and
        // after its last does not count; the one between does.
        let log = LOG_A.to_string() + "Trace 0: 0x7f80 [0000000000000000/0000000000001010/0000c0b0/ff020200] \n";
        let c = parse(log.as_bytes(), (0x1000, 0x1010)).unwrap();
        assert_eq!(c.runs.get(&(0x1010, 0xc0b0, 0xff020200)), Some(&1));
        assert_eq!(c.runs[&(0x1000, 0xc0b0, 0xff020200)], 2);
        let g = parse(log.as_bytes(), (0x1010, 0x1020)).unwrap();
        assert_eq!(g.runs[&(0x1010, 0xc0b0, 0xff020200)], 2);
        assert!(!g.runs.contains_key(&(0x1000, 0xc0b0, 0xff020200)));
    }

    fn symbols() -> Symbols {
        let f = |s: u64, e: u64, n: &str| (s, e, n.to_string());
        Symbols::new(vec![f(0x1010, 0x1020, "g"), f(0x1000, 0x1010, "f"), f(0x1020, 0x1030, "h")], (0x1000, 0x1030), 0)
    }

    #[test]
    fn the_parser_sizes_tbs_by_their_translation_and_counts_runs() {
        let a = parse(LOG_A.as_bytes(), ALL).unwrap();
        assert_eq!(a.size[&(0x1000, 0xc0b0, 0xff020200)], 3);
        assert_eq!(a.size[&(0x1000, 0xc0b0, 0xff028201)], 1);
        // Two instructions: the movabs's second line of bytes is none.
        assert_eq!(a.size[&(0x1008, 0xc0b0, 0xff020200)], 2);
        assert_eq!(a.runs[&(0x1000, 0xc0b0, 0xff020200)], 2);
        assert_eq!(a.runs[&(0x1008, 0xc0b0, 0xff020200)], 2);
        assert_eq!(a.runs[&(0x1000, 0xc0b0, 0xff028201)], 1);
        assert_eq!(a.unsized_runs, 0);
        assert_eq!(a.undone_runs, 1);
    }

    #[test]
    fn a_run_of_a_tb_never_translated_is_not_counted_but_reported() {
        let log = "Trace 0: 0x7f00 [0000000000000000/0000000000001000/0000c0b0/ff020200] \n";
        let c = parse(log.as_bytes(), ALL).unwrap();
        assert!(c.runs.is_empty());
        assert_eq!(c.unsized_runs, 1);
    }

    #[test]
    fn b_minus_a_per_function_and_per_loop() {
        let (a, b) = (parse(LOG_A.as_bytes(), ALL).unwrap(), parse(log_b().as_bytes(), ALL).unwrap());
        let report = subtract(&a, &b, &symbols(), 1);
        let row = |n: &str| report.rows.iter().find(|r| r.name == n).map(|r| (r.instructions, r.calls));
        // h: 2 runs x 4, translated in B only; g: 3 rep iterations; f: 3 + 2.
        assert_eq!(row("h"), Some((8.0, 2.0)));
        assert_eq!(row("g"), Some((3.0, 3.0)));
        assert_eq!(row("f"), Some((5.0, 1.0)));
        assert_eq!(report.total, 16.0);
        assert_eq!(report.rows[0].name, "h");
        let halves = subtract(&a, &b, &symbols(), 2);
        assert_eq!(halves.total, 8.0);
    }

    #[test]
    fn a_pc_belongs_to_the_function_it_is_in_at_both_ends() {
        let s = symbols();
        let name = |pc| s.find(pc).map(|i| s.functions[i].2.as_str());
        assert_eq!(name(0x1000), Some("f"));
        assert_eq!(name(0x100f), Some("f"));
        assert_eq!(name(0x1010), Some("g"));
        assert_eq!(name(0x102f), Some("h"));
        assert_eq!(name(0x1030), None);
        assert_eq!(name(0xfff), None);
    }

    #[test]
    fn instances_of_one_generic_keep_apart_and_long_names_are_cut() {
        let f = |s: u64, e: u64, n: &str| (s, e, n.to_string());
        let s = Symbols::new(
            vec![
                f(0xffff_ffff_8000_1000, 0xffff_ffff_8000_1010, "a::f"),
                f(0xffff_ffff_8000_1010, 0xffff_ffff_8000_1020, "a::f"),
            ],
            (0xffff_ffff_8000_1000, 0xffff_ffff_8000_1020),
            0xffff_ffff_8000_0000,
        );
        let row = |n: &str| Row { name: n.into(), instructions: 1.0, calls: 0.0 };
        let mut rows = vec![(Some(0), row("a::f")), (Some(1), row("a::f"))];
        distinguish(&mut rows, &s);
        assert_eq!(rows[0].1.name, "a::f @0x1000");
        assert_eq!(rows[1].1.name, "a::f @0x1010");
        let long = "x".repeat(50) + &"y".repeat(50);
        let short = shorten(&long);
        assert_eq!(short.chars().count(), NAME_WIDTH);
        assert!(short.starts_with("xxx") && short.ends_with("yyy") && short.contains("..."));
    }

    #[test]
    fn the_bench_figure_becomes_instructions_at_the_calibrated_rate() {
        let header = "test_vmalloc: tree allocator, TSC 1018.250 MHz, loops 1000, repeat 1, nr_pages 1";
        let khz = tsc_khz(header).unwrap();
        assert_eq!(khz, 1_018_250);
        assert_eq!(Figure { ns_per_loop: 2_000, khz }.instructions(), 2_036);
        assert_eq!(tsc_khz("mosaic: fix_size_alloc_test 5 ns per loop"), None);
    }

    #[test]
    fn an_unknown_case_is_refused_with_the_list() {
        assert_eq!(case_bit("long_busy_list_alloc_test").unwrap(), 2);
        let e = case_bit("fix_size").unwrap_err().to_string();
        assert!(e.contains("fix_size_alloc_test") && e.contains("vm_map_ram_test"), "{e}");
    }
}
