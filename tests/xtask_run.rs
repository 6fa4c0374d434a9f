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
    run_bytes(args, input.as_bytes())
}

/// Runs `cargo xtask run` on `input`; fails the test (instead of hanging
/// the suite) if it has not ended after five minutes (the tests of this
/// file run in parallel, each with its own QEMU, on a possibly busy host).
fn run_bytes(args: &[&str], input: &[u8]) -> (Option<i32>, String) {
    let mut child = Command::new(xtask())
        .arg("run")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start xtask");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let pid = child.id().to_string();
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (done, waiting) = std::sync::mpsc::channel::<()>();
    let watchdog = std::sync::Arc::clone(&killed);
    std::thread::spawn(move || {
        if waiting.recv_timeout(std::time::Duration::from_secs(300)).is_err() {
            // Still running: kill QEMU (xtask's child) first, then xtask.
            watchdog.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!killed.load(std::sync::atomic::Ordering::SeqCst), "xtask run hung and was killed after 300 s:\n{text}");
    (out.status.code(), text)
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

#[test]
fn input_that_is_not_utf8_passes_through_and_the_run_ends() {
    let (code, out) = run_bytes(&[], b"echo \xff\xfeok\necho after\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\nok\n"), "the shell drops the bytes that are not ASCII:\n{out}");
    assert!(out.contains("\nafter\n"), "{out}");
}

#[test]
fn escape_then_enter_submits_the_line() {
    let (code, out) = run_bytes(&[], b"echo one\x1b\necho two\x1b[\necho three\n");
    assert_eq!(code, Some(0), "{out}");
    for word in ["one", "two", "three"] {
        assert!(out.contains(&format!("\n{word}\n")), "{word} missing:\n{out}");
    }
}

#[test]
fn output_that_quotes_the_prompt_is_not_the_prompt() {
    // Taken for the prompt, `echo`'s output would let xtask send the next
    // line early and stop the machine at the real prompt after `echo`,
    // while `stress` still ran: its report would be lost.
    let (code, out) = run(&[], "echo mosaic> mosaic> \nstress 100 7\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("stress: 100 operations in "), "the stress report was lost:\n{out}");
    assert!(!out.contains('\x1b'), "prompt marks are stripped when stdout is not a terminal");
}

#[test]
fn a_machine_below_the_minimum_is_refused_in_one_line_before_qemu_starts() {
    let out = Command::new(xtask())
        .args(["run", "--uefi", "-m", "32M"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot start xtask");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err, "xtask: -m 32M: UEFI machines need at least 44M of memory to boot Mosaic\n");
    assert!(out.stdout.is_empty(), "QEMU printed something: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn doctor_names_what_is_missing_and_how_to_get_it() {
    let doctor = |path: Option<&std::ffi::OsStr>| {
        let mut cmd = Command::new(xtask());
        cmd.arg("doctor");
        if let Some(path) = path {
            cmd.env("PATH", path);
        }
        let out = cmd.output().expect("cannot run xtask doctor");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = doctor(None);
    // gdb is needed only for `cargo xtask gdb` and tests/gdb.rs; .ci/run
    // installs it, a machine running this test by hand may lack it.
    let has_gdb = Command::new("gdb").arg("--version").output().is_ok_and(|o| o.status.success());
    let missing: Vec<&str> = out.lines().filter(|l| l.starts_with("MISSING")).collect();
    if has_gdb {
        assert_eq!(code, Some(0), "{out}");
        assert!(missing.is_empty(), "{out}");
    } else {
        assert_eq!(code, Some(1), "{out}");
        assert!(missing.len() == 1 && missing[0].starts_with("MISSING  gdb"), "{out}");
    }
    assert!(out.lines().any(|l| l.starts_with("ok       QEMU: QEMU emulator version")), "{out}");
    // Only rustup's own directory on the PATH: no QEMU, no gdb.
    let rustup = Command::new("sh").args(["-c", "command -v rustup"]).output().unwrap();
    let bin = std::path::Path::new(String::from_utf8_lossy(&rustup.stdout).trim()).parent().unwrap().to_path_buf();
    let (code, out) = doctor(Some(bin.as_os_str()));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.lines().any(|l| l.starts_with("MISSING  QEMU") && l.contains("install")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("MISSING  gdb")), "{out}");
}

/// `cargo xtask run` fed line by line by the test, which reads its output
/// as it comes, so it can act in the middle of a command.
struct Live {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
    seen: String,
}

impl Live {
    fn start() -> Live {
        let mut child = Command::new(xtask())
            .arg("run")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start xtask");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Live { child, stdin, lines, seen: String::new() }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The first output line that `pred` accepts; fails (and kills the
    /// run) after five minutes instead of hanging.
    fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push_str(&line);
                    self.seen.push('\n');
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => {
                    self.kill_qemu();
                    let _ = self.child.kill();
                    panic!("the awaited line did not come within 300 s:\n{}", self.seen);
                }
            }
        }
    }

    /// Kills QEMU, xtask's only child once the kernel runs, by its id.
    fn kill_qemu(&self) {
        let path = format!("/proc/{0}/task/{0}/children", self.child.id());
        let children = std::fs::read_to_string(path).unwrap_or_default();
        for pid in children.split_whitespace() {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }

    /// Closes the input and waits (at most five minutes) for xtask's status
    /// and its standard error.
    fn finish(mut self) -> (Option<i32>, String, String) {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        while self.child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                self.kill_qemu();
                let _ = self.child.kill();
                panic!("xtask run did not end within 300 s:\n{}", self.seen);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(5)) {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        let out = self.child.wait_with_output().unwrap();
        (out.status.code(), self.seen, String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Before: QEMU killed while a command ran left no exit status, which xtask
/// took for its own stop at the end of the input, and exited 0.
#[test]
fn qemu_killed_in_the_middle_of_a_command_is_a_failure() {
    let mut run = Live::start();
    run.send("stress 100000000 3");
    run.wait_line(|l| l.ends_with("stress 100000000 3"));
    // The command is under way (it prints nothing until it ends).
    std::thread::sleep(std::time::Duration::from_secs(2));
    run.kill_qemu();
    run.send("echo after");
    let (code, out, err) = run.finish();
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains("xtask: QEMU was killed from outside while `stress 100000000 3` was running"), "{err}");
    assert!(!out.contains("\nafter\n"), "{out}");
}

/// Before: the machine rebooted, the new kernel's prompt moved the script
/// on, `echo after` ran on a fresh machine and the run exited 0.
#[test]
fn a_reset_in_the_middle_of_a_script_is_a_failure() {
    // A triple fault, which the PC turns into a reset: deterministic, unlike
    // unmapping the kernel image by hand (poke), whose outcome depended on
    // what the TLB still held.
    let mut run = Live::start();
    run.send("echo before");
    run.send("crash triple-fault");
    run.send("echo after");
    let (code, out, err) = run.finish();
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains("xtask: the machine reset while `crash triple-fault`"), "{err}");
    assert!(out.contains("\nbefore\n"), "{out}");
    assert!(!out.contains("\nafter\n"), "the script went on after the reset:\n{out}");
}

#[test]
fn reboot_as_the_last_line_of_a_script_ends_it_with_success() {
    let (code, out) = run(&[], "echo before\nreboot\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\nrebooting\n"), "{out}");
}
