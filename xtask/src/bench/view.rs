//! `cargo xtask bench --part view`: how soon the live view (`cargo xtask
//! run --view`, docs/visual.md) redraws after a command on a 16 GiB
//! machine, against issue 16's target of 0.5 s. The machine gets the
//! live view exactly as `run --view` sets it up (`viz::live::attach`);
//! this side reads `/events` as the page's EventSource would, types
//! commands, and times from each command's answer (the prompt after it on
//! the console) to the event carrying its pictures.
//!
//! The kernel writes the state line to COM2 before it prints the prompt,
//! so an event can arrive before the answer: such a time is negative.

use anyhow::{bail, Context, Result};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};
use xtask::qemu::Firmware;
use xtask::session::{Session, TestEnv};
use xtask::viz::{events, live};

/// The target of issue 16, in ms.
const LIMIT_MS: f64 = 500.0;
/// Rounds of the commands below.
const ROUNDS: usize = 3;
/// How long to wait for a command's event before calling it missing.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);

/// One event as it arrived: when, its `command` (None for an error
/// event), and its size.
struct Arrival {
    at: Instant,
    command: Option<String>,
    bytes: usize,
}

/// One command measured.
struct Timed {
    command: String,
    /// From the prompt after the command to its event; negative if the event came first.
    after_answer_ms: f64,
    /// From typing the command to its event.
    after_typing_ms: f64,
    event_bytes: usize,
    line_bytes: usize,
}

/// Boots a 16 GiB release machine with the live view and times ROUNDS
/// rounds of `vmalloc`, `alloc_pages`, `vfree`, `free_pages`; false if
/// the median missed the target; an error if a command failed.
pub fn run(env: &TestEnv) -> Result<bool> {
    println!("\n==> live view on a 16 GiB machine (BIOS, TCG, release; wall-clock ms on the host)");
    let dir = std::env::temp_dir().join(format!("mosaic-bench-view-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = measure(env, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let timed = result?;
    Ok(report(&timed))
}

/// Boots the machine, follows its events and types the commands.
fn measure(env: &TestEnv, dir: &std::path::Path) -> Result<Vec<Timed>> {
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = "16G".into();
    let view = live::attach(&mut machine, dir, 0)?;
    let arrivals = follow(&view.url)?;
    let mut s = Session::start("bench-view", &machine, env)?;
    s.timeout = Duration::from_secs(300);
    s.wait_prompt()?;
    wait_event(&arrivals, "")?;
    let mut timed = Vec::new();
    for _ in 0..ROUNDS {
        let area = first_word(&timed_command(&mut s, &arrivals, &view.hub, "vmalloc 20000", &mut timed)?);
        let pages = first_word(&timed_command(&mut s, &arrivals, &view.hub, "alloc_pages 3", &mut timed)?);
        timed_command(&mut s, &arrivals, &view.hub, &format!("vfree {area}"), &mut timed)?;
        timed_command(&mut s, &arrivals, &view.hub, &format!("free_pages {pages} 3"), &mut timed)?;
    }
    s.send(b"shutdown\n")?;
    s.wait_exit()?;
    Ok(timed)
}

/// Reads `/events` on a thread; each event goes to the receiver as it arrives.
fn follow(url: &str) -> Result<Receiver<Arrival>> {
    let mut stream = events::connect(url)?;
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        while let Ok(Some(data)) = stream.next_data() {
            let at = Instant::now();
            let value: Option<serde_json::Value> = serde_json::from_str(&data).ok();
            let command = value.as_ref().and_then(|v| v["command"].as_str()).map(String::from);
            if tx.send(Arrival { at, command, bytes: data.len() }).is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

/// Types `command` (which must not answer `error:`), times its event, and
/// returns its answer.
fn timed_command(
    s: &mut Session,
    arrivals: &Receiver<Arrival>,
    hub: &live::Hub,
    command: &str,
    timed: &mut Vec<Timed>,
) -> Result<Vec<String>> {
    let typed = Instant::now();
    let answer = s.command(command)?;
    let answered = Instant::now();
    if let Some(error) = answer.iter().find(|l| l.starts_with("error:")) {
        bail!("`{command}` answered: {error}");
    }
    let event = wait_event(arrivals, command)?;
    let ms = |from: Instant, to: Instant| match to.checked_duration_since(from) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(from.duration_since(to).as_secs_f64() * 1e3),
    };
    timed.push(Timed {
        command: command.split(' ').next().unwrap_or(command).to_string(),
        after_answer_ms: ms(answered, event.at),
        after_typing_ms: ms(typed, event.at),
        event_bytes: event.bytes,
        line_bytes: hub.latest_line().map_or(0, |l| l.len() + 1),
    });
    Ok(answer)
}

/// The event of `command`; an error event or a timeout fails.
fn wait_event(arrivals: &Receiver<Arrival>, command: &str) -> Result<Arrival> {
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = arrivals.recv_timeout(left).with_context(|| format!("no event for `{command}` in time"))?;
        match event.command.as_deref() {
            Some(c) if c == command => return Ok(event),
            Some(_) => continue,
            None => bail!("the live view sent an error event after `{command}`"),
        }
    }
}

/// `0xffffc90000000000 (5 pages ...)` -> `0xffffc90000000000`.
fn first_word(answer: &[String]) -> String {
    answer.first().and_then(|l| l.split_whitespace().next()).unwrap_or("").to_string()
}

/// Prints the table (medians per command and over all) and the verdict;
/// true if the median over all commands met the target.
fn report(timed: &[Timed]) -> bool {
    println!(
        "  {:<12} {:>4} {:>16} {:>16} {:>12} {:>12}",
        "command", "n", "answer->event", "typed->event", "event B", "line B"
    );
    let median = |of: &[&Timed], f: fn(&Timed) -> f64| {
        events::median(&of.iter().map(|t| f(t)).collect::<Vec<_>>()).unwrap_or(f64::NAN)
    };
    let all: Vec<&Timed> = timed.iter().collect();
    for kind in ["vmalloc", "alloc_pages", "vfree", "free_pages", "all"] {
        let of: Vec<&Timed> =
            if kind == "all" { all.clone() } else { all.iter().copied().filter(|t| t.command == kind).collect() };
        println!(
            "  {kind:<12} {:>4} {:>13.0} ms {:>13.0} ms {:>12.0} {:>12.0}",
            of.len(),
            median(&of, |t| t.after_answer_ms),
            median(&of, |t| t.after_typing_ms),
            median(&of, |t| t.event_bytes as f64),
            median(&of, |t| t.line_bytes as f64)
        );
    }
    let typical = median(&all, |t| t.after_answer_ms);
    let worst = timed.iter().map(|t| t.after_answer_ms).fold(f64::NEG_INFINITY, f64::max);
    let met = typical <= LIMIT_MS;
    println!(
        "  median {typical:.0} ms from answer to pictures (target <= {LIMIT_MS:.0} ms): {}; the slowest {worst:.0} ms",
        if met { "met" } else { "MISSED" }
    );
    met
}
