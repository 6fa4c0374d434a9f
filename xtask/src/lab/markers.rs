//! The `// LAB n BEGIN: hint` / `// LAB n END` markers around the
//! solution regions: reading and checking them, replacing labs' region
//! bodies with `crate::lab_missing!(n, "function")` (the kernel's
//! lab.rs: the body reports which lab function is missing instead of
//! panicking), and putting a submission's bodies into a skeleton. Text
//! in, text out: no files are read here.

use anyhow::{bail, Result};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// One marked solution region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub file: PathBuf,
    /// Line of the BEGIN marker, counting from 1.
    pub line: usize,
    pub lab: u32,
    pub hint: String,
}

/// What a marker line says.
#[derive(Debug, PartialEq, Eq)]
enum Marker<'a> {
    Begin(u32, &'a str),
    End(u32),
}

/// Reads a marker line. `Ok(None)` for any other line; an error for a line
/// that starts like a marker but is malformed, so a typo cannot silently
/// leave a solution in a skeleton.
fn marker(line: &str) -> Result<Option<Marker<'_>>, String> {
    let Some(rest) = line.trim_start().strip_prefix("// LAB ") else { return Ok(None) };
    let (id, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let id: u32 = id.parse().map_err(|_| format!("marker without a lab number: {}", line.trim()))?;
    if let Some(hint) = rest.strip_prefix("BEGIN: ") {
        if hint.trim().is_empty() {
            return Err(format!("BEGIN marker without a hint: {}", line.trim()));
        }
        return Ok(Some(Marker::Begin(id, hint.trim())));
    }
    if rest.trim_end() == "END" {
        return Ok(Some(Marker::End(id)));
    }
    Err(format!("malformed marker (want `// LAB n BEGIN: hint` or `// LAB n END`): {}", line.trim()))
}

/// The regions of one file's text, checked: every BEGIN has its END, with
/// the same lab, and regions do not nest.
pub fn regions(file: &Path, text: &str) -> Result<Vec<Region>> {
    let mut found = Vec::new();
    let mut open: Option<Region> = None;
    for (i, line) in text.lines().enumerate() {
        let at = || format!("{}:{}", file.display(), i + 1);
        match (marker(line).map_err(|e| anyhow::anyhow!("{}: {e}", at()))?, &open) {
            (None, _) => {}
            (Some(Marker::Begin(lab, hint)), None) => {
                open = Some(Region { file: file.to_path_buf(), line: i + 1, lab, hint: hint.to_string() })
            }
            (Some(Marker::Begin(..)), Some(r)) => bail!("{}: BEGIN inside the region opened at line {}", at(), r.line),
            (Some(Marker::End(lab)), Some(r)) if lab == r.lab => found.push(open.take().expect("open")),
            (Some(Marker::End(lab)), Some(r)) => bail!("{}: LAB {lab} END closes a LAB {} region", at(), r.lab),
            (Some(Marker::End(_)), None) => bail!("{}: END without BEGIN", at()),
        }
    }
    if let Some(r) = open {
        bail!("{}:{}: LAB {} BEGIN has no END", file.display(), r.line, r.lab);
    }
    Ok(found)
}

/// The line ranges (BEGIN..=END, counting from 1) of every region in
/// `text`, with their lab: for the kernel's symbol table, which marks the
/// backtrace frames that lie in a student's code. Malformed markers are
/// left to `regions()` to report; here they only end no range.
pub fn line_ranges(text: &str) -> Vec<(u32, usize, usize)> {
    let mut ranges = Vec::new();
    let mut open = None;
    for (i, line) in text.lines().enumerate() {
        match marker(line) {
            Ok(Some(Marker::Begin(lab, _))) => open = Some((lab, i + 1)),
            Ok(Some(Marker::End(lab))) => {
                if let Some((begin_lab, begin)) = open.take().filter(|(l, _)| *l == lab) {
                    ranges.push((begin_lab, begin, i + 1));
                }
            }
            _ => {}
        }
    }
    ranges
}

/// Replaces the body of each region of the labs `stubbed` says yes to
/// with `crate::lab_missing!(<lab>, "<function>")`, the hint kept as a
/// comment above it, and the markers kept. Other labs' regions are left as
/// they are. The regions returned are the skeleton's stubbed ones, with
/// its line numbers (a stubbed body is shorter, so later regions move up).
pub fn stub(file: &Path, text: &str, stubbed: impl Fn(u32) -> bool) -> Result<(String, Vec<Region>)> {
    let mut names = Vec::new();
    for r in regions(file, text)?.iter().filter(|r| stubbed(r.lab)) {
        names.push(function_name(text, r.line).ok_or_else(|| {
            anyhow::anyhow!("{}:{}: no `fn` line above this LAB {} region", file.display(), r.line, r.lab)
        })?);
    }
    let mut names = names.into_iter();
    let out = replace_bodies(text, &stubbed, |line, _hint, lab| {
        let indent = &line[..line.len() - line.trim_start().len()];
        let name = names.next().expect("one name per region");
        format!("{indent}crate::lab_missing!({lab}, \"{name}\")\n")
    });
    let mine = regions(file, &out)?.into_iter().filter(|r| stubbed(r.lab)).collect();
    Ok((out, mine))
}

/// The function a region at line `begin` (counting from 1) is the body
/// of, as the student knows it: `get_vm_area`, or `Zone::alloc` for a
/// method (the type of the `impl` block it is in).
fn function_name(text: &str, begin: usize) -> Option<String> {
    static FN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:(?:const|unsafe|extern)\s+)*fn\s+(\w+)").expect("regex")
    });
    static IMPL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^impl(?:<[^>]*>)?\s+(?:[\w:]+(?:<[^>]*>)?\s+for\s+)?(\w+)").expect("regex"));
    let above: Vec<&str> = text.lines().take(begin.saturating_sub(1)).collect();
    let (at, caps) = above.iter().enumerate().rev().find_map(|(i, l)| FN.captures(l).map(|c| (i, c)))?;
    let name = caps[2].to_string();
    if caps[1].is_empty() {
        return Some(name);
    }
    // A method: the nearest `impl` line above it, at the left margin.
    let owner = above[..at].iter().rev().find_map(|l| IMPL.captures(l));
    Some(match owner {
        Some(c) => format!("{}::{name}", &c[1]),
        None => name,
    })
}

/// `text` with the body of every region of the labs `chosen` says yes to
/// replaced by what `body` returns for the region's BEGIN line, hint and
/// lab; the markers stay. The regions must have been checked with
/// `regions()`.
fn replace_bodies(text: &str, chosen: &dyn Fn(u32) -> bool, mut body: impl FnMut(&str, &str, u32) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        match marker(line).expect("checked by regions()") {
            Some(Marker::Begin(id, hint)) if chosen(id) => {
                out.push_str(line);
                out.push_str(&body(line, hint, id));
                skipping = true;
            }
            Some(Marker::End(id)) if chosen(id) => {
                out.push_str(line);
                skipping = false;
            }
            _ if skipping => {}
            _ => out.push_str(line),
        }
    }
    out
}

/// `skeleton` with the bodies of its `lab` regions taken from the same
/// regions of `submitted`, matched in order.
pub fn splice(file: &Path, skeleton: &str, submitted: &str, lab: u32) -> Result<String> {
    let want = regions(file, skeleton)?.iter().filter(|r| r.lab == lab).count();
    let mut bodies: Vec<String> = Vec::new();
    let mut body: Option<String> = None;
    regions(file, submitted)?;
    for line in submitted.split_inclusive('\n') {
        match (marker(line).expect("checked by regions()"), &mut body) {
            (Some(Marker::Begin(id, _)), None) if id == lab => body = Some(String::new()),
            (Some(Marker::End(id)), Some(_)) if id == lab => bodies.push(body.take().expect("open")),
            (_, Some(text)) => text.push_str(line),
            _ => {}
        }
    }
    if bodies.len() != want {
        bail!(
            "{}: the submission has {} LAB {lab} regions, the lab has {want} (markers removed or added?)",
            file.display(),
            bodies.len()
        );
    }
    let mut bodies = bodies.into_iter();
    Ok(replace_bodies(skeleton, &|id| id == lab, |_, _, _| bodies.next().expect("counted")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "fn a() {\n    // LAB 1 BEGIN: split \"it\" {here}\n    let x = 1;\n    x\n    // LAB 1 END\n}\n\
                       fn b() {\n        // LAB 2 BEGIN: walk\n        walk();\n        // LAB 2 END\n}\n";

    #[test]
    fn finds_regions_with_lines_and_hints() {
        let r = regions(Path::new("k.rs"), SRC).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].lab, r[0].line, r[0].hint.as_str()), (1, 2, "split \"it\" {here}"));
        assert_eq!((r[1].lab, r[1].line, r[1].hint.as_str()), (2, 8, "walk"));
    }

    #[test]
    fn stubs_only_the_chosen_labs_and_keeps_the_markers() {
        let (out, stubbed) = stub(Path::new("k.rs"), SRC, |l| l == 1).unwrap();
        assert_eq!(stubbed.len(), 1);
        assert!(out.contains(
            "    // LAB 1 BEGIN: split \"it\" {here}\n    crate::lab_missing!(1, \"a\")\n    // LAB 1 END\n"
        ));
        assert!(!out.contains("let x = 1;"));
        assert!(out.contains("        walk();\n"), "lab 2 keeps its solution: {out}");
        let (untouched, none) = stub(Path::new("k.rs"), SRC, |l| l == 3).unwrap();
        assert_eq!((untouched.as_str(), none.len()), (SRC, 0));
        let (both, two) = stub(Path::new("k.rs"), SRC, |l| l >= 1).unwrap();
        assert_eq!(two.len(), 2);
        assert!(both.contains("crate::lab_missing!(2, \"b\")") && !both.contains("walk();"), "{both}");
    }

    /// The stub names the function as the student knows it: a method with
    /// its type, whatever the `impl` line's generics or trait.
    #[test]
    fn stubs_name_the_function_and_its_type() {
        let src = "impl<T> List<T> {\n    pub(super) fn first_fit(&self) -> Option<u64> {\n        \
                   // LAB 2 BEGIN: fit\n        None\n        // LAB 2 END\n    }\n}\n\
                   impl Zone {\n    pub fn alloc(\n        &mut self,\n    ) -> Option<u64> {\n        \
                   // LAB 1 BEGIN: split\n        None\n        // LAB 1 END\n    }\n}\n\
                   pub fn get_vm_area(\n) -> Result<u64, E> {\n    // LAB 2 BEGIN: r\n    Ok(0)\n    // LAB 2 END\n}\n";
        let (out, _) = stub(Path::new("k.rs"), src, |_| true).unwrap();
        for want in [
            "lab_missing!(2, \"List::first_fit\")",
            "lab_missing!(1, \"Zone::alloc\")",
            "lab_missing!(2, \"get_vm_area\")",
        ] {
            assert!(out.contains(want), "no {want} in {out}");
        }
        assert!(stub(Path::new("k.rs"), "// LAB 1 BEGIN: a\n// LAB 1 END\n", |_| true).is_err(), "no fn above");
    }

    #[test]
    fn splice_takes_only_the_submitted_region_bodies() {
        let (skeleton, _) = stub(Path::new("k.rs"), SRC, |l| l == 1).unwrap();
        let theirs = SRC.replace("let x = 1;", "let x = 2; // mine").replace("walk();", "cheat();");
        let out = splice(Path::new("k.rs"), &skeleton, &theirs, 1).unwrap();
        assert!(out.contains("    let x = 2; // mine\n    x\n    // LAB 1 END"), "{out}");
        assert!(out.contains("        walk();") && !out.contains("cheat") && !out.contains("lab_missing!"), "{out}");
        let unmarked = theirs.replace("    // LAB 1 END\n", "");
        assert!(splice(Path::new("k.rs"), &skeleton, &unmarked, 1).is_err());
    }

    #[test]
    fn malformed_markers_are_errors() {
        let bad = [
            "// LAB 1 BEGIN: a\n// LAB 1 BEGIN: b\n// LAB 1 END\n",
            "// LAB 1 BEGIN: a\n",
            "// LAB 1 END\n",
            "// LAB 1 BEGIN: a\n// LAB 2 END\n",
            "// LAB x BEGIN: a\n// LAB x END\n",
            "// LAB 1 BEGIN:\n// LAB 1 END\n",
            "// LAB 1 START: a\n",
        ];
        for text in bad {
            assert!(regions(Path::new("k.rs"), text).is_err(), "{text:?} was accepted");
        }
    }
}
