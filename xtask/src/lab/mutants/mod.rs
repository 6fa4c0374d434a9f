//! The mutant catalogue: for each lab, typical student bugs written as
//! edits of the reference solution inside that lab's regions, and the
//! check that applies one to a file's text. `cargo xtask lab mutants`
//! (in `grade/mutants.rs`) grades each mutant and requires that every one
//! loses points, which proves the lab's graded tests teach what its
//! handout claims.
//!
//! A mutant is a file, an exact text that must occur exactly once inside
//! the lab's regions of that file, and its replacement. A find-text that is
//! missing (the reference changed) is a catalogue error, never a silent
//! skip: `cargo test -p xtask` checks every entry against the source.

mod lab1;
mod lab2;
mod lab3;
mod lab4;
mod lab5;

use super::markers::regions;
use anyhow::{bail, Result};
use std::path::Path;

/// One typical bug.
#[derive(Clone, Copy, Debug)]
pub struct Mutant {
    /// What the student got wrong, in one line.
    pub bug: &'static str,
    /// The file, relative to the repository's root.
    pub file: &'static str,
    /// Text of the reference, found exactly once inside the lab's regions.
    pub find: &'static str,
    /// What it becomes.
    pub replace: &'static str,
}

/// The mutants of lab `id`, most important first (`--quick` takes the
/// first few), and the lessons no mutant can show: their code is outside
/// the student's regions, or no test can tell the bug from the reference
/// (an equivalent mutant, kept out of the catalogue and said why here).
pub fn catalogue(id: u32) -> (&'static [Mutant], &'static [&'static str]) {
    match id {
        1 => (lab1::MUTANTS, lab1::OUT_OF_REACH),
        2 => (lab2::MUTANTS, lab2::OUT_OF_REACH),
        3 => (lab3::MUTANTS, lab3::OUT_OF_REACH),
        4 => (lab4::MUTANTS, lab4::OUT_OF_REACH),
        5 => (lab5::MUTANTS, lab5::OUT_OF_REACH),
        _ => (&[], &[]),
    }
}

/// `text` (the file `m.file`) with the mutant applied. An error if the
/// find-text is not inside a `lab` region exactly once.
pub fn apply(m: &Mutant, lab: u32, text: &str) -> Result<String> {
    // Byte ranges of the bodies of the lab's regions.
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        starts.push(offset);
        offset += line.len();
    }
    starts.push(offset);
    let bodies: Vec<(usize, usize)> = regions(Path::new(m.file), text)?
        .iter()
        .filter(|r| r.lab == lab)
        .map(|r| {
            // The body starts after the BEGIN line and ends before the END
            // line, which is the next marker line of the file.
            let from = starts[r.line];
            let end_line = text[from..].lines().position(|l| l.trim_start().starts_with("// LAB ")).unwrap_or(0);
            (from, starts[r.line + end_line])
        })
        .collect();
    let hits: Vec<usize> = text
        .match_indices(m.find)
        .map(|(at, _)| at)
        .filter(|&at| bodies.iter().any(|&(a, b)| at >= a && at + m.find.len() <= b))
        .collect();
    match hits.as_slice() {
        [at] => Ok(format!("{}{}{}", &text[..*at], m.replace, &text[at + m.find.len()..])),
        [] => bail!("catalogue error: mutant {:?}: {:?} is not inside a LAB {lab} region of {}", m.bug, m.find, m.file),
        _ => bail!(
            "catalogue error: mutant {:?}: {:?} occurs {} times in the LAB {lab} regions of {}: make it unique",
            m.bug,
            m.find,
            hits.len(),
            m.file
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str =
        "fn a() {\n    // LAB 1 BEGIN: x\n    let x = 1;\n    x\n    // LAB 1 END\n}\nfn b() { let x = 1; }\n";

    fn m(find: &'static str) -> Mutant {
        Mutant { bug: "t", file: "k.rs", find, replace: "let x = 2;" }
    }

    #[test]
    fn applies_only_inside_the_labs_regions() {
        let out = apply(&m("let x = 1;"), 1, SRC).unwrap();
        assert!(out.contains("    let x = 2;\n") && out.ends_with("fn b() { let x = 1; }\n"), "{out}");
        assert!(apply(&m("let y"), 1, SRC).is_err(), "missing text accepted");
        assert!(apply(&m("fn b()"), 1, SRC).is_err(), "text outside the region accepted");
        assert!(apply(&m("let x = 1;"), 2, SRC).is_err(), "another lab's region accepted");
        let twice = SRC.replace("    x\n", "    let x = 1;\n");
        assert!(apply(&m("let x = 1;"), 1, &twice).is_err(), "ambiguous text accepted");
    }

    /// The real catalogue against the real source: every mutant applies,
    /// changes something, and each lab has the mutants its lessons need.
    #[test]
    fn every_mutant_applies_to_the_reference() {
        let root = crate::root();
        for lab in &super::super::LABS {
            let (mutants, _) = catalogue(lab.id);
            let want = if lab.id == 3 { 5 } else { 8 };
            assert!(mutants.len() >= want, "lab {} has {} mutants, wants {want}", lab.id, mutants.len());
            for m in mutants {
                let text = std::fs::read_to_string(root.join(m.file)).unwrap();
                let out = apply(m, lab.id, &text).unwrap_or_else(|e| panic!("{e:#}"));
                assert_ne!(out, text, "{}", m.bug);
            }
        }
    }
}
