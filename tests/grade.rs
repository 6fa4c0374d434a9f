//! `cargo xtask grade N --format gradescope` as Gradescope's autograder
//! runs it: the results.json it writes must follow Gradescope's documented
//! schema (docs/instructors.md, "Gradescope"): a numeric total `score`,
//! and `tests`, each with a `name`, a numeric `score` and `max_score`, and
//! an `output`; the test scores add up to the total.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// The xtask binary (set by `cargo xtask test`, else the one in target/).
fn xtask() -> PathBuf {
    std::env::var_os("MOSAIC_XTASK")
        .map(PathBuf::from)
        .unwrap_or_else(|| xtask::target_dir().join("debug").join("xtask"))
}

/// One in-kernel test of lab 2 only: the grade needs no host build (the
/// outer `cargo test` holds the host target directory), and one QEMU run.
const ONLY: &str = "vmalloc::get_vm_area_reserves_a_range";

#[test]
fn gradescope_results_follow_the_schema() {
    let dir = std::env::temp_dir().join(format!("mosaic-grade-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let results = dir.join("results.json");
    let out = Command::new(xtask())
        .current_dir(xtask::root())
        .args(["grade", "2", "--format", "gradescope", "--gradescope-results"])
        .arg(&results)
        .args(["--only", ONLY, "--seed", "1", "--jobs", "1"])
        .output()
        .expect("cannot start xtask");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "grade 2 --only {ONLY} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&results).unwrap_or_else(|e| panic!("no {}: {e}\n{stdout}", results.display()));
    let _ = std::fs::remove_dir_all(&dir);
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("results.json is not JSON: {e}\n{text}"));
    check_schema(&json);
    let tests = json["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 1, "--only {ONLY} selects one test: {text}");
    assert!(tests[0]["name"].as_str().unwrap().contains(ONLY), "{text}");
    assert_eq!(tests[0]["score"], tests[0]["max_score"], "the reference passes {ONLY}: {text}");
    assert!(stdout.lines().last().unwrap_or("").starts_with("Score: "), "the Score line comes last:\n{stdout}");
}

/// Gradescope's schema, as docs/instructors.md documents it.
fn check_schema(json: &Value) {
    let total = json["score"].as_f64().unwrap_or_else(|| panic!("no numeric total `score`: {json}"));
    let tests = json["tests"].as_array().unwrap_or_else(|| panic!("no `tests` array: {json}"));
    assert!(!tests.is_empty(), "no tests: {json}");
    let mut sum = 0.0;
    for t in tests {
        assert!(t["name"].as_str().is_some_and(|n| !n.is_empty()), "a test without a name: {t}");
        let score = t["score"].as_f64().unwrap_or_else(|| panic!("a test without a numeric score: {t}"));
        let max = t["max_score"].as_f64().unwrap_or_else(|| panic!("a test without a numeric max_score: {t}"));
        assert!((0.0..=max).contains(&score), "score {score} outside 0..={max}: {t}");
        assert!(t["output"].is_string(), "a test without an output string: {t}");
        if let Some(v) = t.get("visibility") {
            assert!(
                ["visible", "hidden", "after_due_date", "after_published"].contains(&v.as_str().unwrap_or("")),
                "{t}"
            );
        }
        sum += score;
    }
    assert_eq!(sum, total, "the tests' scores add up to {sum}, the total says {total}: {json}");
    if let Some(t) = json.get("execution_time") {
        assert!(t.is_u64(), "execution_time is not a whole number of seconds: {t}");
    }
}
