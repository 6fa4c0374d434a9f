//! The serial console of `cargo xtask run`: this terminal <-> QEMU's serial port.
//!
//! xtask sits between the terminal and QEMU instead of handing QEMU the
//! terminal, for two reasons:
//! - Input typed or piped before the kernel is ready would be lost (the
//!   kernel resets the UART's FIFO when it initialises it), so input is held
//!   back until the first `mosaic> ` prompt appears.
//! - Piped input is fed one line per prompt, so a script sees each answer
//!   right after its command, and the session ends when the input does.
//!   Only the kernel's own prompt counts (prompt.rs): output that quotes
//!   `mosaic> ` does not move the script on while a command still runs.
//!   Lines are sent as bytes, so input that is not UTF-8 passes through
//!   (the shell ignores bytes that are not printable ASCII), with a note.
//!
//! On a terminal, the terminal is put in raw mode so the kernel's line editor
//! gets every key (Ctrl-C abandons a line in the shell; it does not kill
//! xtask). Ctrl-A then x quits. The terminal is restored on every way out,
//! including SIGTERM and SIGHUP.

use anyhow::{Context, Result};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use xtask::host::Ovmf;
use xtask::prompt::{MarkFilter, PromptCounter};
use xtask::qemu::{self, Machine};

/// What the output thread has seen, and where the input stands.
#[derive(Default)]
struct Seen {
    prompts: usize,
    exited: bool,
    /// The last line a script sent to the kernel, to name it if the run
    /// ends early (not kept for keys typed on a terminal).
    last_line: Option<String>,
    /// Every input line has been sent (scripted), or the user quit.
    input_done: bool,
    /// xtask itself stopped QEMU (end of input, Ctrl-A x, unreadable input).
    stopped_by_xtask: bool,
}

type Shared = Arc<(Mutex<Seen>, Condvar)>;

/// The terminal settings to put back; also used by the signal handler.
static SAVED_TERMINAL: Mutex<Option<Termios>> = Mutex::new(None);

pub fn run(machine: &Machine, qemu_path: &Path, ovmf: &Ovmf) -> Result<ExitCode> {
    let interactive = std::io::stdin().is_terminal();
    machine.check_memory().map_err(anyhow::Error::msg)?;
    machine.check_cpu().map_err(anyhow::Error::msg)?;
    let mut machine = machine.clone();
    if !interactive {
        // A script cannot read a halted kernel's report and press keys:
        // make a panic end QEMU with a failure status instead.
        machine.cmdline = format!("{} panic=exit", machine.cmdline).trim_start().to_string();
        // Nor can it notice a reset: a rebooted kernel's prompt would move
        // the script on against a fresh machine. A reset ends the run.
        machine.no_reboot = true;
    }
    let mut child = machine
        .command(qemu_path, ovmf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {}", qemu_path.display()))?;
    let pid = child.id();
    let shared: Shared = Arc::default();

    let stdout = child.stdout.take().expect("piped");
    let out_shared = Arc::clone(&shared);
    let output = std::thread::spawn(move || copy_output(stdout, &out_shared));

    if interactive {
        raw_mode()?;
    }
    ctrlc::set_handler(move || {
        restore_terminal();
        kill(pid);
        std::process::exit(130);
    })
    .context("cannot install the signal handler")?;

    let stdin = child.stdin.take().expect("piped");
    let in_shared = Arc::clone(&shared);
    let quit_pid = pid;
    std::thread::spawn(move || {
        let result = if interactive { type_keys(stdin, &in_shared) } else { feed_lines(stdin, &in_shared) };
        match result {
            // Ctrl-A x, or the end of a script: stop the machine.
            Ok(()) => stop(quit_pid, &in_shared),
            // QEMU ended by itself (shutdown, a panic, a reset) or was
            // killed: its status says how (`verdict`).
            Err(_) if exited(&in_shared) => {}
            // Input could not be read: say so and stop, never hang.
            Err(e) => {
                restore_terminal();
                eprintln!("\nxtask: {e:#}; stopping the machine");
                stop(quit_pid, &in_shared);
            }
        }
    });

    let status = child.wait();
    let _ = output.join();
    restore_terminal();
    let status = status.context("waiting for QEMU")?;
    let seen = shared.0.lock().unwrap();
    Ok(match verdict(status.code(), &seen) {
        Ok(note) => {
            if let Some(note) = note {
                eprintln!("xtask: {note}");
            }
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("xtask: {why}");
            ExitCode::FAILURE
        }
    })
}

/// Whether the session succeeded, from QEMU's status and where the input
/// was: `Ok` with an optional note, or `Err` with the one line to print.
/// Success is only the kernel's own success exit, or xtask stopping the
/// machine itself at the end of the input (or Ctrl-A x); QEMU killed by
/// someone else (no status) or a reset (status 0 under `-no-reboot`, see
/// qemu.rs) while a command ran is a failure, never a quiet end.
fn verdict(code: Option<i32>, seen: &Seen) -> Result<Option<String>, String> {
    let running = match &seen.last_line {
        Some(line) => format!("while `{line}` was running"),
        None if seen.prompts > 0 => "during the session".to_string(),
        None => "before the kernel's first prompt".to_string(),
    };
    let asked_reset = seen.last_line.as_deref().is_some_and(|l| l.trim() == "reboot");
    match code {
        Some(qemu::EXIT_SUCCESS) => Ok(None),
        None if seen.stopped_by_xtask => Ok(None),
        None => Err(format!("QEMU was killed from outside {running}; the session did not finish")),
        Some(0) if asked_reset && seen.input_done => {
            Ok(Some("the machine reset, as `reboot` asked; a piped session ends at a reset".to_string()))
        }
        Some(0) if asked_reset => Err(
            "the machine reset, as `reboot` asked; a piped session ends at a reset, so the input after it was not run"
                .to_string(),
        ),
        Some(0) => Err(format!("the machine reset {running} (a triple fault?); the session did not finish")),
        other => Err(format!("{} {running} (status {})", qemu::describe_exit(other), other.unwrap_or(-1))),
    }
}

/// Copies QEMU's output to the terminal, counting prompts. A terminal gets
/// the bytes as they are (the prompt mark shows as nothing); a pipe gets
/// them without carriage returns and prompt marks.
fn copy_output(mut from: impl Read, shared: &Shared) {
    let mut stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut prompts = PromptCounter::default();
    let mut filter = MarkFilter::new(true);
    let mut buf = [0u8; 4096];
    loop {
        let n = from.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        if terminal {
            let _ = stdout.write_all(chunk);
        } else {
            let _ = stdout.write_all(&filter.filter(chunk));
        }
        let _ = stdout.flush();
        let found = prompts.feed(chunk);
        if found > 0 {
            let (lock, cond) = &**shared;
            lock.lock().unwrap().prompts += found;
            cond.notify_all();
        }
    }
    if !terminal {
        let _ = stdout.write_all(&filter.finish());
        let _ = stdout.flush();
    }
    let (lock, cond) = &**shared;
    lock.lock().unwrap().exited = true;
    cond.notify_all();
}

/// True once QEMU's output has ended.
fn exited(shared: &Shared) -> bool {
    shared.0.lock().unwrap().exited
}

/// Blocks until at least `n` prompts have appeared; false if QEMU exited.
fn wait_prompts(shared: &Shared, n: usize) -> bool {
    let (lock, cond) = &**shared;
    let seen = cond.wait_while(lock.lock().unwrap(), |s| s.prompts < n && !s.exited).unwrap();
    seen.prompts >= n
}

/// Interactive: forward keystrokes once the kernel is ready; Ctrl-A x quits.
fn type_keys(mut to: impl Write, shared: &Shared) -> Result<()> {
    let mut stdin = std::io::stdin().lock();
    let mut byte = [0u8; 1];
    let mut after_ctrl_a = false;
    loop {
        if stdin.read(&mut byte)? == 0 {
            return Ok(());
        }
        if after_ctrl_a && byte[0] == b'x' {
            return Ok(());
        }
        after_ctrl_a = byte[0] == 0x01;
        if after_ctrl_a {
            continue;
        }
        if !wait_prompts(shared, 1) {
            anyhow::bail!("QEMU exited");
        }
        to.write_all(&byte)?;
        to.flush()?;
    }
}

/// Scripted: send each line at a prompt; when input ends, wait for the last
/// command to finish.
fn feed_lines(mut to: impl Write, shared: &Shared) -> Result<()> {
    let mut sent = 0;
    for line in std::io::stdin().lock().split(b'\n') {
        let mut line = line.context("reading the input")?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if std::str::from_utf8(&line).is_err() {
            eprintln!(
                "xtask: input line {} is not UTF-8; it is sent as it is, and the shell ignores its bytes that are not printable ASCII",
                sent + 1
            );
        }
        if !wait_prompts(shared, sent + 1) {
            anyhow::bail!("QEMU exited");
        }
        shared.0.lock().unwrap().last_line = Some(String::from_utf8_lossy(&line).into_owned());
        to.write_all(&line)?;
        to.write_all(b"\n")?;
        to.flush()?;
        sent += 1;
    }
    shared.0.lock().unwrap().input_done = true;
    if wait_prompts(shared, sent + 1) {
        eprintln!("\nxtask: end of input, stopping the machine");
        return Ok(());
    }
    anyhow::bail!("QEMU exited")
}

/// xtask's own stop of the machine: noted, so that the missing exit
/// status is not taken for QEMU killed by someone else.
fn stop(pid: u32, shared: &Shared) {
    shared.0.lock().unwrap().stopped_by_xtask = true;
    kill(pid);
}

/// Stops QEMU at once (SIGKILL: no "terminating on signal" noise).
fn kill(pid: u32) {
    use nix::sys::signal::{kill, Signal};
    let _ = kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
}

fn raw_mode() -> Result<()> {
    let stdin = std::io::stdin();
    let original = termios::tcgetattr(&stdin).context("reading terminal settings")?;
    let mut raw = original.clone();
    termios::cfmakeraw(&mut raw);
    *SAVED_TERMINAL.lock().unwrap() = Some(original);
    termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).context("setting raw mode")?;
    Ok(())
}

fn restore_terminal() {
    if let Some(original) = SAVED_TERMINAL.lock().unwrap().take() {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &original);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(last: Option<&str>, input_done: bool, stopped_by_xtask: bool) -> Seen {
        Seen { prompts: 2, exited: true, last_line: last.map(String::from), input_done, stopped_by_xtask }
    }

    #[test]
    fn only_the_kernels_success_or_xtasks_own_stop_is_success() {
        assert_eq!(verdict(Some(qemu::EXIT_SUCCESS), &seen(Some("shutdown"), true, false)), Ok(None));
        assert_eq!(verdict(None, &seen(Some("help"), true, true)), Ok(None));
        let killed = verdict(None, &seen(Some("stress 1000000"), false, false)).unwrap_err();
        assert_eq!(
            killed,
            "QEMU was killed from outside while `stress 1000000` was running; the session did not finish"
        );
        let reset = verdict(Some(0), &seen(Some("poke 0x1 0"), false, false)).unwrap_err();
        assert!(reset.starts_with("the machine reset while `poke 0x1 0` was running"), "{reset}");
        let booting = Seen { prompts: 0, ..seen(None, false, false) };
        let failed = verdict(Some(qemu::EXIT_FAILURE), &booting).unwrap_err();
        assert!(failed.contains("before the kernel's first prompt"), "{failed}");
    }

    #[test]
    fn reboot_ends_a_script_and_is_success_only_as_its_last_line() {
        assert!(verdict(Some(0), &seen(Some("reboot"), true, false)).unwrap().is_some());
        assert!(verdict(Some(0), &seen(Some("reboot"), false, false)).is_err());
    }
}
