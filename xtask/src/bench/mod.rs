//! `cargo xtask bench`: the kernel's `test_vmalloc` (a port of Linux's
//! lib/test_vmalloc.c) on both vmalloc area allocators, next to Linux's own
//! figures on the same kind of machine.
//!
//! Each allocator gets a fresh release kernel in a BIOS machine like the one
//! the Linux figures come from: TCG (no KVM), QEMU's default qemu64 CPU, one
//! vCPU, 1 GiB. The shell runs one test case per command, so a long case
//! shows its progress and each case gets its own leak check. Two more
//! series follow the cases: a control for long_busy_list (the same page
//! work without the busy areas), and fix_size with more and more busy areas
//! held below it, which shows how each allocator grows with their number. The list
//! allocator is O(n) per call and long_busy_list keeps 15000 areas alive, so
//! it runs 10 times fewer loops than the tree by default (about 0.4 ms per
//! loop there: a million loops would take over ten minutes for that case
//! alone).
//!
//! See docs/benchmarks.md for the figures and what they mean. The
//! command's arguments are in `commands/bench.rs`; the PGD-sync and soak
//! benchmarks are in `mm.rs`, the host allocators' in `alloc.rs`, the
//! boot time's in `boot.rs`, the pictures of memory's in `maps.rs`, the
//! live view's redraw in `view.rs`; the comparison with Linux booted in
//! the same run in `versus.rs`; eager against lazy `vfree` in `lazy.rs`;
//! the exact per-function instruction profile of one case in `profile.rs`.

pub mod alloc;
pub mod boot;
pub mod lazy;
pub mod maps;
pub mod mm;
pub mod profile;
pub mod versus;
pub mod view;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use regex::Regex;
use std::io::Write;
use std::time::{Duration, Instant};
use xtask::build::{self, Profile};
use xtask::host;
use xtask::qemu::{self, Firmware};
use xtask::session::{Session, TestEnv};

/// Loops per test case when `--loops` is not given: Linux's default for the
/// tree, a tenth of it for the list (see the top of the file).
const TREE_LOOPS: u64 = 1_000_000;
const LIST_LOOPS: u64 = 100_000;
/// How long one test case may take before the run is abandoned.
const CASE_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// The vmalloc area allocators.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Allocator {
    Tree,
    List,
}

impl Allocator {
    fn name(self) -> &'static str {
        match self {
            Allocator::Tree => "tree",
            Allocator::List => "list",
        }
    }

    fn cmdline(self) -> &'static str {
        match self {
            Allocator::Tree => "panic=exit",
            Allocator::List => "panic=exit vmalloc=list",
        }
    }
}

/// One test case: its bit in run_test_mask, whether it zeroes its memory,
/// and Linux's ns per loop (Linux 6.1, QEMU TCG, 1 vCPU, 1 GiB, qemu64,
/// 1M loops): without zeroing, and with zeroing where Linux measured it.
struct Case {
    bit: u32,
    name: &'static str,
    zeroes: bool,
    linux: Option<u64>,
    linux_zeroed: Option<u64>,
}

const CASES: &[Case] = &[
    Case { bit: 0, name: "fix_size_alloc_test", zeroes: false, linux: Some(6_711), linux_zeroed: Some(7_600) },
    Case { bit: 1, name: "full_fit_alloc_test", zeroes: false, linux: Some(8_871), linux_zeroed: Some(10_800) },
    Case { bit: 2, name: "long_busy_list_alloc_test", zeroes: false, linux: Some(74_120), linux_zeroed: Some(214_000) },
    Case { bit: 3, name: "random_size_alloc_test", zeroes: false, linux: Some(54_245), linux_zeroed: Some(127_000) },
    Case { bit: 4, name: "fix_align_alloc_test", zeroes: true, linux: Some(19_418), linux_zeroed: Some(20_250) },
    Case {
        bit: 5,
        name: "random_size_align_alloc_test",
        zeroes: true,
        linux: Some(29_831),
        linux_zeroed: Some(32_700),
    },
    Case { bit: 6, name: "align_shift_alloc_test", zeroes: true, linux: None, linux_zeroed: None },
    // Linux 6.12's figure: 6.1 had no vm_map_ram_test.
    Case { bit: 10, name: "vm_map_ram_test", zeroes: false, linux: Some(2_160), linux_zeroed: None },
];

/// Linux's align_shift_alloc_test is written to fail (see
/// kernel/src/bench/test_vmalloc.rs): failing is its success.
const EXPECTED_TO_FAIL: &str = "align_shift_alloc_test";

impl Case {
    /// The Linux figure to compare with: the zeroing one for the cases
    /// that zero (vzalloc-like `__vmalloc_node` calls).
    fn reference(&self) -> Option<u64> {
        if self.zeroes {
            self.linux_zeroed
        } else {
            self.linux
        }
    }
}

/// What one test case measured on one allocator.
#[derive(Clone, Debug)]
struct Measured {
    ns_per_loop: u64,
    ok: bool,
    note: String,
}

/// All cases on one allocator.
struct Run {
    allocator: Allocator,
    loops: u64,
    header: String,
    results: Vec<Option<Measured>>,
    /// fix_size_alloc_test with CONTROL_PAGES pages (see `bench`).
    control: Option<Measured>,
    /// vm_map_ram_test with `plain_vmap=1`: `vmap`/`vunmap` instead of
    /// vmap blocks, the two ways side by side.
    plain_vmap: Option<Measured>,
    /// fix_size_alloc_test with each of GROWTH busy areas below it.
    growth: Vec<(u64, Option<Measured>)>,
}

impl Run {
    /// A run with nothing measured yet.
    fn new(allocator: Allocator, loops: u64) -> Self {
        Run {
            allocator,
            loops,
            header: String::new(),
            results: Vec::new(),
            control: None,
            plain_vmap: None,
            growth: Vec::new(),
        }
    }
}

/// Busy areas held (test_vmalloc's `busy_areas`) for the growth series:
/// how the cost of one fix_size loop changes with the number of areas the
/// allocator has to get past. The list walks them all, the tree does not.
const GROWTH: [u64; 5] = [0, 2_000, 4_000, 8_000, 16_000];
/// Loops per point of the growth series (fewer if `--loops` is smaller).
const GROWTH_LOOPS: u64 = 5_000;
/// Runs per point; the fastest is kept. The points are short (a fraction
/// of a second for the tree), so one preemption of QEMU by a busy host
/// would otherwise show up as a spike.
const GROWTH_RUNS: usize = 3;

/// long_busy_list allocates 100 pages and 1 page per loop among 15000 busy
/// areas; fix_size with 100 pages plus fix_size with 1 page is the same
/// page work with no busy areas. The difference is what the busy areas
/// cost, i.e. the area allocator's search.
const CONTROL_PAGES: u64 = 100;

/// Finds QEMU and builds the release images.
pub fn env() -> Result<TestEnv> {
    let images = build::images(Profile::Release)?;
    let (qemu, ovmf) = host::ensure()?;
    Ok(TestEnv { qemu, ovmf, bios: images.bios, uefi: images.uefi, qemu_args: Vec::new() })
}

/// Runs test_vmalloc on each of `allocators` (`loops` per test case, or
/// each allocator's default), prints the table, and returns what failed.
pub fn vmalloc(env: &TestEnv, allocators: &[Allocator], loops: Option<u64>) -> Result<Vec<String>> {
    let mut runs = Vec::new();
    for &allocator in allocators {
        let default = if allocator == Allocator::Tree { TREE_LOOPS } else { LIST_LOOPS };
        runs.push(bench(env, allocator, loops.unwrap_or(default))?);
    }
    print_table(&runs);
    let mut failed = Vec::new();
    for r in &runs {
        let control = ("the control run (fix_size with more pages)", &r.control);
        let plain = ("vm_map_ram_test with plain_vmap=1", &r.plain_vmap);
        let growth = r.growth.iter().map(|(_, m)| ("the growth series (fix_size with busy areas)", m));
        for (name, m) in CASES.iter().map(|c| c.name).zip(&r.results).chain([control, plain]).chain(growth) {
            if !m.as_ref().is_some_and(|m| m.ok) {
                failed.push(format!("{name} on the {}", r.allocator.name()));
            }
        }
    }
    Ok(failed)
}

/// Boots a machine with `allocator` and runs every case `loops` times.
fn bench(env: &TestEnv, allocator: Allocator, loops: u64) -> Result<Run> {
    eprintln!("\n==> {} allocator: {loops} loops per test case (QEMU TCG, qemu64, 1 vCPU, 1 GiB)", allocator.name());
    let mut s = boot(env, allocator)?;
    let mut run = Run::new(allocator, loops);
    measure_cases(&mut s, &mut run, loops)?;
    let fix_size = &CASES[0];
    let label = format!("fix_size, {CONTROL_PAGES} pages");
    run.control = measure(&mut s, &mut run, &label, fix_size.bit, loops, &format!(" nr_pages={CONTROL_PAGES}"))?;
    let vm_map_ram = CASES.iter().find(|c| c.name == "vm_map_ram_test").expect("a case of CASES");
    run.plain_vmap = measure(&mut s, &mut run, "vm_map_ram, plain vmap", vm_map_ram.bit, loops, " plain_vmap=1")?;
    for busy in GROWTH {
        let mut best: Option<Measured> = None;
        for i in 1..=GROWTH_RUNS {
            let label = format!("fix_size, {busy} busy areas ({i}/{GROWTH_RUNS})");
            let extra = format!(" busy_areas={busy}");
            let m = measure(&mut s, &mut run, &label, fix_size.bit, loops.min(GROWTH_LOOPS), &extra)?;
            best = match (best, m) {
                // A failed run is kept, so that the failure is reported.
                (Some(b), _) if !b.ok => Some(b),
                (Some(b), Some(m)) if m.ok && b.ns_per_loop <= m.ns_per_loop => Some(b),
                (_, m) => m,
            };
        }
        run.growth.push((busy, best));
    }
    shut_down(s, allocator)?;
    Ok(run)
}

/// Runs every test case once, `loops` times each, into `run.results`.
fn measure_cases(s: &mut Session, run: &mut Run, loops: u64) -> Result<()> {
    for case in CASES {
        let measured = measure(s, run, case.name, case.bit, loops, "")?;
        run.results.push(measured);
    }
    Ok(())
}

/// Boots the bench machine (BIOS, 1 GiB) with `allocator`, up to the prompt.
fn boot(env: &TestEnv, allocator: Allocator) -> Result<Session> {
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = "1G".into();
    machine.cmdline = allocator.cmdline().into();
    let mut s = Session::start(&format!("bench-{}", allocator.name()), &machine, env)?;
    s.timeout = CASE_TIMEOUT;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    Ok(s)
}

/// Ends a bench machine with `shutdown`; an error if it did not end cleanly.
fn shut_down(mut s: Session, allocator: Allocator) -> Result<()> {
    s.send(b"shutdown\n")?;
    let code = s.wait_exit()?;
    if code != Some(qemu::EXIT_SUCCESS) {
        s.fail();
        bail!("the {} machine did not shut down cleanly (QEMU status {code:?})", allocator.name());
    }
    Ok(())
}

/// One boot of the tree allocator running just the test cases (no control
/// or growth series): for the comparison with Linux (`versus.rs`). With
/// `lazy`, the shell's `vfree lazy` switches frees to the lazy purge first.
fn cases_only(env: &TestEnv, loops: u64, lazy: bool) -> Result<Vec<Option<Measured>>> {
    let mut s = boot(env, Allocator::Tree)?;
    if lazy {
        let said = s.command("vfree lazy")?;
        if let Some(e) = said.iter().find(|l| l.starts_with("error:")) {
            s.fail();
            bail!("`vfree lazy` was refused: {e}");
        }
    }
    let mut run = Run::new(Allocator::Tree, loops);
    measure_cases(&mut s, &mut run, loops)?;
    shut_down(s, Allocator::Tree)?;
    Ok(run.results)
}

/// Runs the test case of bit `bit` of run_test_mask `loops` times with
/// `extra` parameters, and reports it on stderr under `label` as it ends.
fn measure(s: &mut Session, run: &mut Run, label: &str, bit: u32, loops: u64, extra: &str) -> Result<Option<Measured>> {
    let name = CASES.iter().find(|c| c.bit == bit).expect("a case of CASES").name;
    let started = Instant::now();
    let line = format!("test_vmalloc run_test_mask={} test_loop_count={loops}{extra}", 1u32 << bit);
    let lines = s.command(&line).with_context(|| format!("running {label}"))?;
    if run.header.is_empty() {
        if let Some(h) = lines.iter().find(|l| l.starts_with("test_vmalloc: ")) {
            run.header = h.clone();
        }
    }
    let measured = parse_case(name, &lines);
    match &measured {
        Some(m) => eprintln!(
            "    {label:<30} {:>9} ns per loop  {}{} ({:.0?})",
            group(m.ns_per_loop),
            if m.ok { "ok" } else { "FAILED" },
            if m.note.is_empty() { String::new() } else { format!(": {}", m.note) },
            started.elapsed()
        ),
        None => {
            s.fail();
            eprintln!("    {label:<30} no result; the kernel said:\n      {}", lines.join("\n      "));
        }
    }
    Ok(measured)
}

/// Reads the `Summary:` and `mosaic:` lines of test case `name`; None if
/// they are missing. An `error:` line (a leak, or a refused command) fails
/// it.
fn parse_case(name: &str, lines: &[String]) -> Option<Measured> {
    // Today's Summary line has `xfailed: N`; Linux 6.1's (`summary_6_1=1`)
    // has not, and counts an expected failure as failed.
    let summary = Regex::new(
        r"^Summary: (\w+) passed: (\d+) failed: (\d+)(?: xfailed: (\d+))? repeat: \d+ loops: \d+ avg: \d+ usec$",
    )
    .unwrap();
    let mosaic = Regex::new(r"^mosaic: (\w+) (\d+) ns per loop \((\w+) allocator\)(.*)$").unwrap();
    let (passed, failed, xfailed) = lines.iter().find_map(|l| {
        let c = summary.captures(l)?;
        let xfailed = c.get(4).map_or(Some(0), |m| m.as_str().parse::<u64>().ok());
        (&c[1] == name).then(|| (c[2].parse::<u64>().ok(), c[3].parse::<u64>().ok(), xfailed))
    })?;
    let (passed, failed, xfailed) = (passed?, failed?, xfailed?);
    let (ns_per_loop, rest) = lines.iter().find_map(|l| {
        let c = mosaic.captures(l)?;
        (&c[1] == name).then(|| (c[2].parse().ok(), c[4].trim_start_matches("; ").to_string()))
    })?;
    let errors: Vec<&String> = lines.iter().filter(|l| l.starts_with("error:")).collect();
    let ok = if name == EXPECTED_TO_FAIL {
        passed == 0 && failed + xfailed > 0
    } else {
        failed == 0 && xfailed == 0 && passed > 0
    };
    let mut note = if name == EXPECTED_TO_FAIL && ok { "fails as expected".to_string() } else { rest };
    if let Some(e) = errors.first() {
        note = format!("{note} {e}").trim().to_string();
    }
    Some(Measured { ns_per_loop: ns_per_loop?, ok: ok && errors.is_empty(), note })
}

/// 1234567 -> "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// How many times faster than `reference` a measurement is: "3.4x".
fn speedup(reference: Option<u64>, m: Option<&Measured>) -> String {
    match (reference, m) {
        (Some(r), Some(m)) if m.ns_per_loop > 0 => format!("{:.1}x", r as f64 / m.ns_per_loop as f64),
        _ => "-".into(),
    }
}

fn print_table(runs: &[Run]) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\nns per loop (lower is better); \"vs Linux\" = Linux's time / Mosaic's (higher is better)");
    for r in runs {
        let _ = writeln!(out, "  {}: {} loops; {}", r.allocator.name(), r.loops, r.header);
    }
    let _ = write!(out, "\n{:<34} {:>11} {:>11}", "test", "Linux", "Linux zero");
    for r in runs {
        let _ = write!(out, " {:>11} {:>8}", r.allocator.name(), "vs Linux");
    }
    let _ = writeln!(out);
    for (i, case) in CASES.iter().enumerate() {
        let linux = |v: Option<u64>| v.map_or("-".to_string(), group);
        let mark = if case.zeroes { " (z)" } else { "" };
        let _ = write!(
            out,
            "{:<34} {:>11} {:>11}",
            format!("{}{mark}", case.name),
            linux(case.linux),
            linux(case.linux_zeroed)
        );
        for r in runs {
            let m = r.results.get(i).and_then(Option::as_ref);
            let value = match m {
                Some(m) if m.ok => group(m.ns_per_loop),
                Some(m) => format!("{} !", group(m.ns_per_loop)),
                None => "-".into(),
            };
            let _ = write!(out, " {:>11} {:>8}", value, speedup(case.reference(), m));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "(z): zeroes its memory; compared with Linux's zeroing column. align_shift_alloc_test is");
    let _ = writeln!(out, "meant to fail (as in Linux) and its time is per alignment tried. \"!\" marks a failure.");
    print_growth(&mut out, runs);
    for r in runs {
        print_targets(&mut out, r);
    }
}

/// The growth series: one row per allocator, and the slope of a straight
/// line fitted through it (ns per loop added by each 1000 busy areas).
fn print_growth(out: &mut impl Write, runs: &[Run]) {
    let Some(first) = runs.first() else { return };
    let loops = first.loops.min(GROWTH_LOOPS);
    let _ = writeln!(
        out,
        "\nfix_size_alloc_test with N one-page areas busy below it ({loops} loops, fastest of {GROWTH_RUNS}), ns per loop:"
    );
    let _ = write!(out, "{:<10}", "N");
    for n in GROWTH {
        let _ = write!(out, " {:>10}", group(n));
    }
    let _ = writeln!(out, " {:>22}", "per 1000 busy areas");
    for r in runs {
        let _ = write!(out, "{:<10}", r.allocator.name());
        let points: Vec<(f64, f64)> =
            r.growth.iter().filter_map(|(n, m)| m.as_ref().map(|m| (*n as f64, m.ns_per_loop as f64))).collect();
        for (_, m) in &r.growth {
            let _ = write!(out, " {:>10}", m.as_ref().map_or("-".into(), |m| group(m.ns_per_loop)));
        }
        let _ = writeln!(out, " {:>19} ns", slope(&points).map_or("-".into(), |k| format!("{:+.0}", k * 1000.0)));
    }
}

/// The least-squares slope of y over x, if there are two distinct x.
fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The goals for the tree (docs/benchmarks.md): at least 3 times Linux's
/// speed on every case, and long_busy_list within 1.5 times random_size.
fn print_targets(out: &mut impl Write, r: &Run) {
    let ns = |name: &str| {
        CASES.iter().position(|c| c.name == name).and_then(|i| r.results[i].as_ref()).map(|m| m.ns_per_loop)
    };
    let _ = writeln!(out, "\n{} allocator:", r.allocator.name());
    for (case, m) in CASES.iter().zip(&r.results) {
        if let (Some(reference), Some(m)) = (case.reference(), m) {
            let factor = reference as f64 / m.ns_per_loop.max(1) as f64;
            let verdict = if factor >= 3.0 { "met" } else { "MISSED" };
            let _ = writeln!(out, "  {:<30} {factor:>5.1}x Linux's speed (target 3x): {verdict}", case.name);
        }
    }
    if let (Some(busy), Some(random)) = (ns("long_busy_list_alloc_test"), ns("random_size_alloc_test")) {
        let ratio = busy as f64 / random.max(1) as f64;
        let verdict = if ratio <= 1.5 { "met" } else { "MISSED" };
        let _ = writeln!(out, "  long_busy_list / random_size = {ratio:.2} (target <= 1.5): {verdict}");
    }
    if let (Some(busy), Some(one), Some(big)) =
        (ns("long_busy_list_alloc_test"), ns("fix_size_alloc_test"), r.control.as_ref())
    {
        let same_work = one + big.ns_per_loop;
        let _ = writeln!(
            out,
            "  long_busy_list {} ns vs the same page work with no busy areas (fix_size with {CONTROL_PAGES} pages + with 1 page) {} ns:\n  \
             the 15000 busy areas add {} ns per loop",
            group(busy),
            group(same_work),
            if busy >= same_work { group(busy - same_work) } else { format!("-{}", group(same_work - busy)) }
        );
    }
    if let (Some(blocks), Some(plain)) = (ns("vm_map_ram_test"), r.plain_vmap.as_ref()) {
        let _ = writeln!(
            out,
            "  vm_map_ram_test on vmap blocks {} ns, with plain vmap/vunmap (plain_vmap=1) {} ns: {:.1}x",
            group(blocks),
            group(plain.ns_per_loop),
            plain.ns_per_loop as f64 / blocks.max(1) as f64
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn both_summary_formats_are_read() {
        let new = lines(&[
            "Summary: fix_size_alloc_test passed: 1 failed: 0 xfailed: 0 repeat: 1 loops: 10 avg: 5 usec",
            "mosaic: fix_size_alloc_test 500 ns per loop (tree allocator)",
        ]);
        let m = parse_case("fix_size_alloc_test", &new).unwrap();
        assert_eq!((m.ns_per_loop, m.ok), (500, true));
        let old = lines(&[
            "Summary: fix_size_alloc_test passed: 1 failed: 0 repeat: 1 loops: 10 avg: 5 usec",
            "mosaic: fix_size_alloc_test 700 ns per loop (list allocator)",
        ]);
        assert_eq!(parse_case("fix_size_alloc_test", &old).map(|m| m.ns_per_loop), Some(700));
    }

    #[test]
    fn the_expected_failure_is_ok_in_both_formats_and_a_pass_is_not() {
        let shift = |summary: &str| {
            let l = lines(&[summary, "mosaic: align_shift_alloc_test 9 ns per loop (tree allocator); failed at x"]);
            parse_case(EXPECTED_TO_FAIL, &l).unwrap().ok
        };
        let s = "Summary: align_shift_alloc_test passed:";
        assert!(shift(&format!("{s} 0 failed: 0 xfailed: 1 repeat: 1 loops: 1 avg: 1 usec")));
        assert!(shift(&format!("{s} 0 failed: 1 repeat: 1 loops: 1 avg: 1 usec")));
        assert!(!shift(&format!("{s} 1 failed: 0 xfailed: 0 repeat: 1 loops: 1 avg: 1 usec")));
    }

    #[test]
    fn an_xfailed_ordinary_case_is_not_ok() {
        let l = lines(&[
            "Summary: vrealloc_test passed: 0 failed: 0 xfailed: 1 repeat: 1 loops: 1 avg: 1 usec",
            "mosaic: vrealloc_test 9 ns per loop (tree allocator)",
        ]);
        assert!(!parse_case("vrealloc_test", &l).unwrap().ok);
    }
}
