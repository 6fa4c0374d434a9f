//! `cargo xtask run` as a script would use it: input piped in before the
//! kernel is ready must all arrive, and the run ends with the right status.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The xtask binary (set by `cargo xtask test`, else the one in target/).
fn xtask() -> PathBuf {
    std::env::var_os("MOSAIC_XTASK")
        .map(PathBuf::from)
        .unwrap_or_else(|| xtask::target_dir().join("debug").join("xtask"))
}

fn run(args: &[&str], input: &str) -> (Option<i32>, String) {
    let mut child = Command::new(xtask())
        .arg("run")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start xtask");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn piped_help_and_shutdown_exit_zero() {
    let (code, out) = run(&[], "help\nshutdown\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("mosaic> help\n"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("uptime ")), "{out}");
    assert!(out.contains("mosaic> shutdown\nshutting down"), "{out}");
    assert!(!out.contains('\r'), "carriage returns are stripped when stdout is not a terminal");
}

#[test]
fn every_piped_line_arrives_and_the_run_ends_with_the_input() {
    let lines: Vec<String> = (0..20).map(|i| format!("echo line {i}")).collect();
    let (code, out) = run(&["--uefi"], &(lines.join("\n") + "\n"));
    assert_eq!(code, Some(0), "{out}");
    for i in 0..20 {
        assert!(out.contains(&format!("\nline {i}\n")), "line {i} missing:\n{out}");
    }
}

#[test]
fn errors_in_a_script_do_not_stop_it() {
    let (code, out) = run(&[], "frobnicate\necho after\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("error: unknown command 'frobnicate'"), "{out}");
    assert!(out.contains("\nafter\n"), "{out}");
}
