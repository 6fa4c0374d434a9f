//! `cargo xtask lab mutants`: proof that a lab's graded tests catch the
//! bugs students typically make. Each mutant of the lab's catalogue
//! (`lab/mutants/`) is applied, one at a time, to a scratch copy of this
//! tree (the reference, in `target/labs/tree/`, never the working tree),
//! and that copy is graded; a mutant that loses no points is MISSED.

use super::selftest::seed_shared_target;
use super::submission::{grade_in, labs_dir, work_tree};
use super::Report;
use crate::lab::mutants::{apply, catalogue, Mutant};
use crate::lab::{copy, Lab};
use crate::root;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;

/// How many mutants per lab `--quick` grades: spread evenly over the
/// catalogue (its first, and then every len/QUICK-th), so that the old
/// and the newest lessons are both tried.
pub const QUICK: usize = 3;

/// The mutants `--quick` grades out of `all`.
fn spread<T>(all: &[T], quick: bool) -> Vec<&T> {
    if !quick || all.len() <= QUICK {
        return all.iter().collect();
    }
    (0..QUICK).map(|i| &all[i * all.len() / QUICK]).collect()
}

/// What one mutant did.
pub struct MutantRow {
    pub lab: u32,
    pub bug: &'static str,
    /// The graded tests that failed on the mutant and pass on the reference.
    pub caught_by: Vec<String>,
    pub points_lost: u32,
    /// A catalogue error (find-text missing) or a grading run that failed.
    pub error: Option<String>,
}

impl MutantRow {
    pub fn caught(&self) -> bool {
        self.error.is_none() && self.points_lost > 0
    }
}

/// Grades every mutant of each lab (`QUICK` of them, spread, with `quick`; those
/// whose description contains `only`, if given) and prints one line per
/// mutant, then a summary per lab and in all. `only` may name several
/// texts separated by `|`. With `fast`, each mutant is
/// graded only until a test catches it (`grade --fail-fast`): whether it
/// is caught is the same, the points lost are a lower bound.
/// `timeout_scale` multiplies every test's timeout (`grade --timeout-scale`),
/// for a loaded machine on which the reference runs into them.
pub fn mutants(
    labs: &[&Lab],
    jobs: usize,
    quick: bool,
    only: Option<&str>,
    fast: bool,
    timeout_scale: f64,
) -> Result<Vec<MutantRow>> {
    let started = Instant::now();
    let (dir, _lock) = work_tree()?;
    copy(&dir)?;
    let shared_target = labs_dir().join("target");
    seed_shared_target(&shared_target)?;
    let seed = 20_240_614u64;
    let args = [
        "--jobs".to_string(),
        jobs.to_string(),
        "--seed".into(),
        seed.to_string(),
        "--timeout-scale".into(),
        timeout_scale.to_string(),
    ];
    let mut mutant_args = args.to_vec();
    if fast {
        mutant_args.push("--fail-fast".into());
    }
    let hints = Hints::parse(HINTS);
    let mut rows = Vec::new();
    for lab in labs {
        let (all, out_of_reach) = catalogue(lab.id);
        let chosen: Vec<&Mutant> = spread(all, quick)
            .into_iter()
            .filter(|m| only.is_none_or(|o| o.split('|').any(|part| m.bug.contains(part))))
            .collect();
        println!("\n==> lab mutants: lab {} ({}), {} mutants (seed {seed})", lab.id, lab.slug, chosen.len());
        let t = Instant::now();
        let reference = grade_in(&dir, lab, &shared_target, &args, true).context("grading the reference copy")?;
        println!("reference: {}/{} ({:.0?})", reference.score(), reference.max(), t.elapsed());
        let judgeable = reference.score() == reference.max();
        print_reference_failures(&reference);
        let mut lab_rows = Vec::new();
        for m in chosen {
            let t = Instant::now();
            let mut args = mutant_args.clone();
            if let Some(tests) = hints.get(lab.id, m.bug).filter(|_| fast) {
                args.extend(["--first".to_string(), tests.to_string()]);
            }
            let row = if judgeable {
                run_mutant(&dir, lab, m, &reference, &shared_target, &args)
            } else {
                not_judged(lab, m)
            };
            print_row(&row, t.elapsed().as_secs_f64(), fast);
            lab_rows.push(row);
        }
        let caught = lab_rows.iter().filter(|r| r.caught()).count();
        println!(
            "lab {}: {} mutants, {caught} caught, {} missed ({:.0?})",
            lab.id,
            lab_rows.len(),
            lab_rows.len() - caught,
            t.elapsed()
        );
        for note in out_of_reach {
            println!("  not graded: {note}");
        }
        rows.extend(lab_rows);
    }
    let caught = rows.iter().filter(|r| r.caught()).count();
    println!("\n{} mutants, {caught} caught, {} missed  ({:.0?})", rows.len(), rows.len() - caught, started.elapsed());
    write_hints(hints, &rows);
    Ok(rows)
}

/// Which tests caught each mutant the last time the catalogue was run
/// whole: `lab`, the bug and the tests (`|` between them), a tab between
/// the three. A hint only changes the order of the QEMU tests (`grade
/// --first`), so a stale one costs time, never a verdict. Every run writes
/// what it saw to `target/labs/catchers.txt`; after changing the catalogue
/// or the tests, copy that file over this one.
const HINTS: &str = include_str!("../lab/mutants/catchers.txt");

/// The hints, keyed by lab and bug.
struct Hints(std::collections::BTreeMap<(u32, String), String>);

impl Hints {
    fn parse(text: &str) -> Hints {
        let rows = text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(|l| {
            let mut cols = l.split('\t');
            let lab = cols.next()?.parse().ok()?;
            Some(((lab, cols.next()?.to_string()), cols.next()?.to_string()))
        });
        Hints(rows.collect())
    }

    fn get(&self, lab: u32, bug: &str) -> Option<&str> {
        self.0.get(&(lab, bug.to_string())).map(String::as_str)
    }
}

/// Writes the hints this run learned, over the old ones, to
/// `target/labs/catchers.txt`.
fn write_hints(mut hints: Hints, rows: &[MutantRow]) {
    for row in rows.iter().filter(|r| r.caught()) {
        let tests: Vec<&str> = row.caught_by.iter().map(|t| t.trim_end_matches(" (timed out)")).collect();
        hints.0.insert((row.lab, row.bug.to_string()), tests.join("|"));
    }
    let mut text: String = HINTS.lines().take_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    for ((lab, bug), tests) in &hints.0 {
        text.push_str(&format!("{lab}\t{bug}\t{tests}\n"));
    }
    let path = labs_dir().join("catchers.txt");
    match std::fs::write(&path, text) {
        Ok(()) => println!("(which tests caught which mutant: {}; see HINTS in grade/mutants.rs)", path.display()),
        Err(e) => println!("(could not write {}: {e})", path.display()),
    }
}

/// Applies `m` in the scratch tree, grades it, and puts the file back.
fn run_mutant(dir: &Path, lab: &Lab, m: &Mutant, reference: &Report, target: &Path, args: &[String]) -> MutantRow {
    let mut row = MutantRow { lab: lab.id, bug: m.bug, caught_by: Vec::new(), points_lost: 0, error: None };
    let original = match std::fs::read_to_string(root().join(m.file)) {
        Ok(text) => text,
        Err(e) => {
            row.error = Some(format!("catalogue error: cannot read {}: {e}", m.file));
            return row;
        }
    };
    let mutated = match apply(m, lab.id, &original) {
        Ok(text) => text,
        Err(e) => {
            row.error = Some(format!("{e:#}"));
            return row;
        }
    };
    let path = dir.join(m.file);
    let graded = std::fs::write(&path, mutated)
        .map_err(anyhow::Error::from)
        .and_then(|()| grade_in(dir, lab, target, args, true));
    // Always put the reference back, so the next mutant starts from it.
    if let Err(e) = std::fs::write(&path, &original) {
        row.error = Some(format!("cannot restore {}: {e}", path.display()));
        return row;
    }
    match graded {
        Ok(report) => {
            let passed_here = |name: &str| reference.results.iter().any(|r| r.name == name && r.passed);
            for r in report.results.iter().filter(|r| !r.passed && passed_here(&r.name)) {
                // A timeout is a catch (a fault retried forever) but also
                // what a loaded machine does to a good test: say which.
                let how = if r.timed_out { " (timed out)" } else { "" };
                row.caught_by.push(format!("{}{how}", r.name));
                row.points_lost += r.points;
            }
        }
        Err(e) => row.error = Some(format!("grading failed: {e:#}")),
    }
    row
}

/// A mutant left ungraded because the reference lost points: a test that
/// fails on the reference cannot catch anything, and with `--fast` its
/// failure would stop the mutant's grading before the real catcher ran,
/// so every such mutant would look MISSED.
fn not_judged(lab: &Lab, m: &Mutant) -> MutantRow {
    MutantRow {
        lab: lab.id,
        bug: m.bug,
        caught_by: Vec::new(),
        points_lost: 0,
        error: Some("not graded: the reference itself lost points (see above)".into()),
    }
}

/// The tests the reference itself failed, one line each, saying whether
/// they ran into their timeout (a loaded machine: rerun with
/// `--timeout-scale`).
fn print_reference_failures(reference: &Report) {
    for r in reference.results.iter().filter(|r| !r.passed) {
        let why = if r.timed_out {
            format!("ran into its timeout after {:.0} s (loaded machine? try --timeout-scale 2)", r.seconds)
        } else {
            r.detail.lines().next().unwrap_or("failed").trim().to_string()
        };
        println!("  the reference FAILED {} ({} points): {why}", r.name, r.points);
    }
    if reference.score() < reference.max() {
        println!("  the reference must score full marks to judge the mutants: this lab's are not graded");
    }
}

/// One line per mutant: what the student got wrong, the points lost
/// (with `fast`, at least that many) and the tests that caught it.
fn print_row(row: &MutantRow, seconds: f64, fast: bool) {
    let at_least = if fast { ">=" } else { "" };
    match &row.error {
        Some(e) => println!("ERROR   lab {}: {}\n        {e}", row.lab, row.bug),
        None if row.caught() => println!(
            "caught  -{at_least}{:<3} lab {}: {}  ({:.0} s) by {}",
            row.points_lost,
            row.lab,
            row.bug,
            seconds,
            row.caught_by.join(", ")
        ),
        None => println!("MISSED   0   lab {}: {}  ({:.0} s): no graded test failed", row.lab, row.bug, seconds),
    }
}

/// For `cargo xtask test`: every mutant of every lab, each graded until a
/// test catches it (`fast`, its last catchers first), as (caught, missed
/// or broken).
pub fn mutants_tally(jobs: usize) -> (usize, usize) {
    match mutants(&crate::lab::LABS.iter().collect::<Vec<_>>(), jobs, false, None, true, 1.0) {
        Ok(rows) => {
            let caught = rows.iter().filter(|r| r.caught()).count();
            (caught, rows.len() - caught)
        }
        Err(e) => {
            println!("error: lab mutants: {e:#}");
            (0, 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every hint names a mutant of the catalogue and graded tests of its
    /// lab, so that a renamed test or bug shows here, not as a slow run.
    #[test]
    fn every_hint_names_a_mutant_and_graded_tests() {
        let hints = Hints::parse(HINTS);
        for ((lab, bug), tests) in &hints.0 {
            let (mutants, _) = catalogue(*lab);
            assert!(mutants.iter().any(|m| m.bug == bug), "catchers.txt: no mutant {bug:?} in lab {lab}");
            let names: Vec<String> = super::super::tests(*lab).iter().map(super::super::display_name).collect();
            for t in tests.split('|') {
                assert!(names.iter().any(|n| n == t), "catchers.txt: lab {lab} has no graded test {t:?}");
            }
        }
    }

    #[test]
    fn hints_parse_tabs_and_skip_comments() {
        let h = Hints::parse("# a comment\n2\tbug one\ta::b|c::d\n\nbad line\n");
        assert_eq!(h.get(2, "bug one"), Some("a::b|c::d"));
        assert_eq!(h.0.len(), 1);
    }

    #[test]
    fn quick_takes_the_first_middle_and_late_mutants() {
        let all: Vec<u32> = (0..12).collect();
        assert_eq!(spread(&all, true), vec![&0, &4, &8]);
        assert_eq!(spread(&all[..2], true).len(), 2);
        assert_eq!(spread(&all, false).len(), 12);
    }
}
