//! Reading test reports: the in-kernel runner's (kernel/src/ktest.rs) and
//! `cargo test`'s result lines.

/// One `ktest: <name> ... ok|FAILED` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KtestResult {
    pub name: String,
    pub passed: bool,
}

/// The results found in a serial transcript, in order.
pub fn ktest_results(transcript: &str) -> Vec<KtestResult> {
    transcript
        .lines()
        .filter_map(|line| {
            let rest = line.trim_end_matches('\r').strip_prefix("ktest: ")?;
            let (name, verdict) = rest.split_once(" ... ")?;
            let passed = match verdict {
                "ok" => true,
                v if v.starts_with("FAILED") => false,
                _ => return None,
            };
            Some(KtestResult { name: name.to_string(), passed })
        })
        .collect()
}

/// The count announced by `ktest: running N tests`.
pub fn ktest_announced(transcript: &str) -> Option<usize> {
    transcript.lines().find_map(|l| l.strip_prefix("ktest: running ")?.strip_suffix(" tests")?.parse().ok())
}

/// Reads `test result: ok. 12 passed; 0 failed; ...` into (passed, failed).
pub fn cargo_result(line: &str) -> Option<(usize, usize)> {
    let rest = line.strip_prefix("test result: ")?;
    let number = |word: &str| -> Option<usize> {
        rest.split("; ").find_map(|part| {
            let part = part.split_once(". ").map_or(part, |(_, p)| p);
            part.strip_suffix(word)?.trim().parse().ok()
        })
    };
    Some((number(" passed")?, number(" failed")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_passes_failures_and_panics() {
        let t = "noise\nktest: running 3 tests\nktest: a::b ... ok\n    at x.rs:1: no\n\
                 ktest: a::c ... FAILED\r\nktest: d ... FAILED (panic)\nktest: 1 passed, 2 failed\n";
        let r = ktest_results(t);
        assert_eq!(r.len(), 3);
        assert_eq!((r[0].name.as_str(), r[0].passed), ("a::b", true));
        assert_eq!((r[1].name.as_str(), r[1].passed), ("a::c", false));
        assert!(!r[2].passed);
        assert_eq!(ktest_announced(t), Some(3));
    }

    #[test]
    fn ignores_lines_that_only_look_similar() {
        assert!(ktest_results("ktest: 1 passed, 0 failed\nktest: x ... maybe\nmosaic> ktest: y ... ok").is_empty());
    }

    #[test]
    fn cargo_result_lines() {
        let ok = "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(cargo_result(ok), Some((12, 0)));
        let bad = "test result: FAILED. 3 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(cargo_result(bad), Some((3, 2)));
        assert_eq!(cargo_result("running 3 tests"), None);
    }
}
