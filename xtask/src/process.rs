//! The one way xtask runs a child process with a deadline: start it, poll
//! it, and kill it when its time is up.
//!
//! Two kinds of output, for two kinds of child:
//!
//! - `Output::Terminal`: the child's output goes to this terminal, and the
//!   child gets a process group of its own, so that at the deadline the
//!   whole tree is killed (a `cargo xtask grade` in another tree, with its
//!   cargo, rustc and QEMU children);
//! - `Output::Capture`: stdin is closed, stdout and stderr are collected
//!   line by line into one text (a test binary whose output is parsed);
//!   the child alone is killed at the deadline.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the child's output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// To this terminal; the child runs in its own process group.
    Terminal,
    /// Captured (stdout and stderr interleaved by line); stdin closed.
    Capture,
}

/// How a child run with a deadline ended.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status, or `None` if it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// What it printed, with `Output::Capture` (empty otherwise).
    pub output: String,
}

/// Runs `cmd`, killing it (and with `Output::Terminal` its process group)
/// once `limit` has passed.
pub fn run_with_deadline(cmd: &mut Command, limit: Duration, output: Output) -> Result<Finished> {
    match output {
        Output::Terminal => {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        Output::Capture => {
            cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        }
    }
    let mut child = cmd.spawn().with_context(|| format!("cannot start {cmd:?}"))?;
    let text = Arc::new(Mutex::new(String::new()));
    let readers: Vec<_> = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    .map(|stream| {
        let text = Arc::clone(&text);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut out = text.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        })
    })
    .collect();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            match output {
                Output::Terminal => {
                    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                }
                Output::Capture => {
                    let _ = child.kill();
                }
            }
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    for r in readers {
        let _ = r.join();
    }
    let output = text.lock().unwrap().clone();
    Ok(Finished { status, output })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_both_streams_and_the_status() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let done = run_with_deadline(&mut cmd, Duration::from_secs(30), Output::Capture).unwrap();
        assert_eq!(done.status.and_then(|s| s.code()), Some(3));
        assert!(done.output.contains("out\n") && done.output.contains("err\n"), "{:?}", done.output);
    }

    #[test]
    fn kills_a_child_at_the_deadline() {
        for output in [Output::Capture, Output::Terminal] {
            let started = Instant::now();
            let mut cmd = Command::new("sleep");
            cmd.arg("30");
            let done = run_with_deadline(&mut cmd, Duration::from_millis(300), output).unwrap();
            assert!(done.status.is_none(), "{output:?}: {:?}", done.status);
            assert!(started.elapsed() < Duration::from_secs(10), "{output:?}");
        }
    }
}
