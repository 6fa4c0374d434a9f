//! Plays the bad-input matrix of docs/bad-input.md against a booted kernel:
//! every input must be answered with one `error:` line, and afterwards the
//! memory state must read exactly as before.

use mosaic_tests::*;

/// The inputs: first backticked cell of every table row.
fn inputs() -> Vec<String> {
    let doc = std::fs::read_to_string(xtask::root().join("docs/bad-input.md")).expect("docs/bad-input.md");
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(input, _)| input.to_string()))
        .map(|input| if input == "<4 KiB line>" { "x".repeat(4096) } else { input })
        .collect()
}

fn state(s: &mut Session) -> anyhow::Result<Vec<Vec<String>>> {
    ["meminfo", "buddyinfo", "vmallocinfo", "as list", "vmstat"].iter().map(|c| s.command(c)).collect()
}

#[test]
fn every_bad_input_gets_one_error_line_and_changes_nothing() -> anyhow::Result<()> {
    let inputs = inputs();
    assert!(inputs.len() > 90, "the matrix shrank to {} rows", inputs.len());
    let mut s = shell("bad-input-matrix")?;
    let before = state(&mut s)?;
    for input in &inputs {
        let answer = s.command(input)?;
        let shown = if input.len() > 40 { format!("{}...", &input[..40]) } else { input.clone() };
        assert!(answer.len() == 1 && answer[0].starts_with("error: "), "`{shown}` answered {answer:?}");
    }
    assert_eq!(state(&mut s)?, before, "the bad inputs changed the memory state");
    s.command_expect("echo still here", "^still here$")?;
    Ok(())
}
