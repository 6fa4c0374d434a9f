//! The `// LAB n BEGIN: hint` / `// LAB n END` markers around the
//! solution regions: reading and checking them, replacing a lab's region
//! bodies with `todo!()`, and putting a submission's bodies into a
//! skeleton. Text in, text out: no files are read here.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

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

/// Replaces the body of each region of `lab` with `todo!("<hint>")`,
/// keeping the markers. Other labs' regions are left as they are. The
/// regions returned are the skeleton's, with its line numbers (a stubbed
/// body is shorter, so later regions move up).
pub fn stub(file: &Path, text: &str, lab: u32) -> Result<(String, Vec<Region>)> {
    regions(file, text)?;
    let out = replace_bodies(text, lab, |line, hint| {
        let indent = &line[..line.len() - line.trim_start().len()];
        format!("{indent}todo!(\"{}\")\n", escape_hint(hint))
    });
    let mine = regions(file, &out)?.into_iter().filter(|r| r.lab == lab).collect();
    Ok((out, mine))
}

/// `text` with the body of every `lab` region replaced by what `body`
/// returns for the region's BEGIN line and hint; the markers stay. The
/// regions must have been checked with `regions()`.
fn replace_bodies(text: &str, lab: u32, mut body: impl FnMut(&str, &str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        match marker(line).expect("checked by regions()") {
            Some(Marker::Begin(id, hint)) if id == lab => {
                out.push_str(line);
                out.push_str(&body(line, hint));
                skipping = true;
            }
            Some(Marker::End(id)) if id == lab => {
                out.push_str(line);
                skipping = false;
            }
            _ if skipping => {}
            _ => out.push_str(line),
        }
    }
    out
}

/// A hint as the text of a `todo!` format string.
fn escape_hint(hint: &str) -> String {
    hint.replace('\\', "\\\\").replace('"', "\\\"").replace('{', "{{").replace('}', "}}")
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
    Ok(replace_bodies(skeleton, lab, |_, _| bodies.next().expect("counted")))
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
    fn stubs_only_the_chosen_lab_and_keeps_the_markers() {
        let (out, stubbed) = stub(Path::new("k.rs"), SRC, 1).unwrap();
        assert_eq!(stubbed.len(), 1);
        assert!(out.contains(
            "    // LAB 1 BEGIN: split \"it\" {here}\n    todo!(\"split \\\"it\\\" {{here}}\")\n    // LAB 1 END\n"
        ));
        assert!(!out.contains("let x = 1;"));
        assert!(out.contains("        walk();\n"), "lab 2 keeps its solution: {out}");
        let (untouched, none) = stub(Path::new("k.rs"), SRC, 3).unwrap();
        assert_eq!((untouched.as_str(), none.len()), (SRC, 0));
    }

    /// The lines `lab export` prints are the skeleton's: the second lab-1
    /// region is at line 13 of the reference and line 12 of the skeleton.
    #[test]
    fn stubbed_regions_have_the_skeletons_line_numbers() {
        let two = format!("{SRC}fn c() {{\n    // LAB 1 BEGIN: merge\n    a();\n    b();\n    // LAB 1 END\n}}\n");
        let reference: Vec<usize> = regions(Path::new("k.rs"), &two).unwrap().iter().map(|r| r.line).collect();
        assert_eq!(reference, [2, 8, 13]);
        let (out, stubbed) = stub(Path::new("k.rs"), &two, 1).unwrap();
        let lines: Vec<usize> = stubbed.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 12]);
        for r in &stubbed {
            assert!(out.lines().nth(r.line - 1).unwrap().contains(&format!("BEGIN: {}", r.hint)), "{out}");
        }
    }

    #[test]
    fn splice_takes_only_the_submitted_region_bodies() {
        let (skeleton, _) = stub(Path::new("k.rs"), SRC, 1).unwrap();
        let theirs = SRC.replace("let x = 1;", "let x = 2; // mine").replace("walk();", "cheat();");
        let out = splice(Path::new("k.rs"), &skeleton, &theirs, 1).unwrap();
        assert!(out.contains("    let x = 2; // mine\n    x\n    // LAB 1 END"), "{out}");
        assert!(out.contains("        walk();") && !out.contains("cheat") && !out.contains("todo!"), "{out}");
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
