//! Scripted sessions with the kernel's shell, in the spirit of xv6's grade
//! scripts: boot a machine, wait for the prompt, type a command, match the
//! lines that come back against regular expressions, with a timeout.
//!
//! QEMU is always killed when the session is dropped, whatever happened. If
//! the session failed (an expectation was not met, or the test panicked) the
//! whole serial transcript is saved to `target/test-logs/<name>.log`.

use crate::build::{self, Profile};
use crate::host::{self, Ovmf};
use crate::qemu::{Firmware, Machine};
use anyhow::{anyhow, bail, Context, Result};
use regex::Regex;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use crate::prompt::PROMPT;
use crate::prompt::{strip_marks, WIRE_PROMPT};

/// Everything a test needs to start machines: found once per process.
#[derive(Clone, Debug)]
pub struct TestEnv {
    pub qemu: PathBuf,
    pub ovmf: Ovmf,
    pub bios: PathBuf,
    pub uefi: PathBuf,
    /// QEMU arguments added to every machine made from this environment
    /// (`cargo xtask bench --icount` puts `-icount` here).
    pub qemu_args: Vec<String>,
}

impl TestEnv {
    /// Takes the paths from `MOSAIC_QEMU`, `MOSAIC_BIOS_IMAGE`,
    /// `MOSAIC_UEFI_IMAGE` (set by `cargo xtask test`); without them, finds
    /// QEMU and builds the debug images itself.
    pub fn get() -> Result<&'static TestEnv> {
        static ENV: OnceLock<std::result::Result<TestEnv, String>> = OnceLock::new();
        ENV.get_or_init(|| TestEnv::load().map_err(|e| format!("{e:#}"))).as_ref().map_err(|e| anyhow!("{e}"))
    }

    fn load() -> Result<TestEnv> {
        let var = |k: &str| std::env::var_os(k).map(PathBuf::from);
        if let (Some(qemu), Some(bios), Some(uefi), Some(ovmf)) =
            (var("MOSAIC_QEMU"), var("MOSAIC_BIOS_IMAGE"), var("MOSAIC_UEFI_IMAGE"), host::find_ovmf())
        {
            return Ok(TestEnv { qemu, ovmf, bios, uefi, qemu_args: Vec::new() });
        }
        TestEnv::build(Profile::Debug)
    }

    /// Finds QEMU and OVMF (installing them if need be) and builds the
    /// images of `profile`.
    pub fn build(profile: Profile) -> Result<TestEnv> {
        let (qemu, ovmf) = host::ensure()?;
        let images = build::images(profile)?;
        Ok(TestEnv { qemu, ovmf, bios: images.bios, uefi: images.uefi, qemu_args: Vec::new() })
    }

    /// A machine booting the image for `firmware`, exiting QEMU on a panic.
    pub fn machine(&self, firmware: Firmware) -> Machine {
        let image = match firmware {
            Firmware::Bios => &self.bios,
            Firmware::Uefi => &self.uefi,
        };
        let mut machine = Machine::new(firmware, image);
        machine.cmdline = "panic=exit".into();
        machine.extra = self.qemu_args.clone();
        machine
    }
}

/// Serial output (QEMU's stdout, and its stderr for its own complaints)
/// collected by reader threads.
struct Output {
    text: String,
    /// Streams still open; QEMU has exited when this reaches zero.
    open: usize,
    eof: bool,
}

pub struct Session {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<(Mutex<Output>, Condvar)>,
    /// How much of the output has been matched already.
    pos: usize,
    pub timeout: Duration,
    failed: bool,
    /// When QEMU was started: failures say how long the test really ran.
    started: Instant,
    /// Whether dropping a failed session prints where its log went; off
    /// for tests run in parallel, whose runner prints it with the result.
    announce_log: bool,
}

impl Session {
    /// Boots `machine`. `name` names the log file kept on failure.
    /// Refuses, before starting QEMU, a memory size below the firmware's
    /// minimum (`Machine::check_memory`) or a CPU without NX
    /// (`Machine::check_cpu`).
    pub fn start(name: &str, machine: &Machine, env: &TestEnv) -> Result<Session> {
        machine.check_memory().map_err(anyhow::Error::msg)?;
        machine.check_cpu().map_err(anyhow::Error::msg)?;
        let mut cmd: Command = machine.command(&env.qemu, &env.ovmf);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("cannot start {}", env.qemu.display()))?;
        let output = Arc::new((Mutex::new(Output { text: String::new(), open: 2, eof: false }), Condvar::new()));
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        {
            let output = Arc::clone(&output);
            std::thread::spawn(move || collect(stream, &output));
        }
        let timeout = std::env::var("MOSAIC_TEST_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(Duration::from_secs(60), Duration::from_secs);
        Ok(Session {
            name: name.into(),
            stdin: child.stdin.take(),
            child,
            output,
            pos: 0,
            timeout,
            failed: false,
            started: Instant::now(),
            announce_log: true,
        })
    }

    /// Boots the test image for `firmware` with the usual options.
    pub fn boot(name: &str, firmware: Firmware) -> Result<Session> {
        let env = TestEnv::get()?;
        Session::start(name, &env.machine(firmware), env)
    }

    /// Waits until `found` finds something in the unmatched output; returns
    /// its (start, end) and moves past it.
    fn wait_for(&mut self, what: &str, found: impl Fn(&str) -> Option<(usize, usize)>) -> Result<String> {
        let deadline = Instant::now() + self.timeout;
        let (lock, cond) = &*self.output;
        let mut out = lock.lock().unwrap();
        loop {
            if let Some((start, end)) = found(&out.text[self.pos..]) {
                let matched = out.text[self.pos + start..self.pos + end].to_string();
                self.pos += end;
                return Ok(matched);
            }
            let now = Instant::now();
            if out.eof || now >= deadline {
                let why = stop_reason(out.eof, self.started.elapsed(), self.timeout);
                let mut tail: Vec<String> = out.text[self.pos..].lines().rev().take(15).map(String::from).collect();
                tail.reverse();
                drop(out);
                self.failed = true;
                bail!("{why} waiting for {what}; unmatched output:\n  | {}", tail.join("\n  | "));
            }
            out = cond.wait_timeout(out, deadline - now).unwrap().0;
        }
    }

    /// Waits for a whole line matching `pattern`; returns the line.
    pub fn expect(&mut self, pattern: &str) -> Result<String> {
        let re = Regex::new(pattern).with_context(|| format!("bad pattern {pattern:?}"))?;
        self.wait_for(&format!("a line matching /{pattern}/"), |text| {
            let mut start = 0;
            for line in text.split_inclusive('\n') {
                let end = start + line.len();
                if line.ends_with('\n') && re.is_match(line.trim_end_matches('\n')) {
                    return Some((start, end));
                }
                start = end;
            }
            None
        })
        .map(|line| line.trim_end().to_string())
    }

    /// Waits for the shell's prompt (the real one: see prompt.rs).
    pub fn wait_prompt(&mut self) -> Result<()> {
        self.wait_for("the prompt", |text| text.find(WIRE_PROMPT).map(|i| (i, i + WIRE_PROMPT.len()))).map(drop)
    }

    /// Types `line` at the prompt, waits for the next prompt, and returns the
    /// output lines in between (without the echo of the command itself).
    pub fn command(&mut self, line: &str) -> Result<Vec<String>> {
        self.send(format!("{line}\n").as_bytes())?;
        let text = self.wait_for(&format!("the prompt after `{line}`"), |text| {
            text.find(WIRE_PROMPT).map(|i| (0, i + WIRE_PROMPT.len()))
        })?;
        let body = &text[..text.len() - WIRE_PROMPT.len()];
        Ok(body.lines().skip(1).map(str::to_string).collect())
    }

    /// Like `command`, failing unless exactly one line comes back and it
    /// matches `pattern`.
    pub fn command_expect(&mut self, line: &str, pattern: &str) -> Result<String> {
        let lines = self.command(line)?;
        let re = Regex::new(pattern)?;
        match lines.as_slice() {
            [only] if re.is_match(only) => Ok(only.clone()),
            _ => {
                self.failed = true;
                bail!("`{line}`: expected one line matching /{pattern}/, got {lines:?}")
            }
        }
    }

    /// Sends raw bytes to the serial port.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        stdin.write_all(bytes).and_then(|_| stdin.flush()).context("QEMU's stdin is closed")
    }

    /// Waits for QEMU to exit and returns its status code.
    pub fn wait_exit(&mut self) -> Result<Option<i32>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                // Let the reader threads drain the last output.
                let (lock, cond) = &*self.output;
                let out = lock.lock().unwrap();
                let _ = cond.wait_timeout_while(out, Duration::from_secs(2), |o| !o.eof);
                return Ok(status.code());
            }
            if Instant::now() >= deadline {
                self.failed = true;
                bail!("QEMU still running after {:.1} s (the limit)", self.started.elapsed().as_secs_f64());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How long ago QEMU was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Everything the machine printed so far (prompt marks removed).
    pub fn transcript(&self) -> String {
        strip_marks(&self.output.0.lock().unwrap().text)
    }

    /// QEMU's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Marks the session failed, so its log is kept.
    pub fn fail(&mut self) {
        self.failed = true;
    }

    /// Where the log of a failed session is kept.
    pub fn log_path(&self) -> PathBuf {
        crate::target_dir().join("test-logs").join(format!("{}.log", self.name))
    }

    /// Keeps a failed session's log without printing its path on drop: a
    /// runner of parallel tests prints `log_path` with the test's result,
    /// so that one test's lines never land among another's.
    pub fn quiet_log(&mut self) {
        self.announce_log = false;
    }
}

fn collect(mut stream: Box<dyn Read + Send>, output: &(Mutex<Output>, Condvar)) {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        let mut out = output.0.lock().unwrap();
        if n == 0 {
            out.open -= 1;
            out.eof = out.open == 0;
            output.1.notify_all();
            return;
        }
        out.text.extend(String::from_utf8_lossy(&buf[..n]).chars().filter(|&c| c != '\r'));
        output.1.notify_all();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if self.failed || std::thread::panicking() {
            let path = self.log_path();
            let dir = path.parent().expect("a log file is in a directory");
            let saved = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, self.transcript()));
            if saved.is_ok() && self.announce_log {
                eprintln!("serial log of the failed session: {}", path.display());
            }
        }
    }
}

/// Why a wait ended without its match, with the time the test really ran:
/// QEMU's exit after `ran`, or no answer within `limit`.
pub fn stop_reason(exited: bool, ran: Duration, limit: Duration) -> String {
    let ran = ran.as_secs_f64();
    if exited {
        format!("QEMU exited after {ran:.1} s (the machine stopped)")
    } else {
        format!("timed out after {ran:.1} s (no answer within the {:.0} s limit)", limit.as_secs_f64())
    }
}
