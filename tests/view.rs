//! The live view of `cargo xtask run --view` (docs/visual.md): state lines
//! on COM2 reach the page, which redraws its pictures.
//!
//! - A fake COM2 (fixture lines written to the socket QEMU would use)
//!   reaches the event stream: no QEMU, no browser.
//! - The same in headless Chromium: the page redraws after each line.
//! - `cargo xtask run --view` with a real kernel, in Chromium, while the
//!   test types commands: the new area is drawn, the free-order colours
//!   change, the shell's block appears and goes. A screenshot is kept in
//!   target/test-logs/ for a person to look at.
//!
//! The browser tests are skipped, saying why, when Chromium is absent
//! (.ci/run installs it).

use anyhow::{bail, Context, Result};
use mosaic_tests::cdp::{Browser, PATIENCE};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use xtask::viz::live;

fn fixture(name: &str) -> String {
    let path = xtask::root().join("xtask/src/viz/testdata").join(format!("{name}.json"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = xtask::host::find_chromium();
    if found.is_none() {
        // Straight to stderr: the harness hides println! of passing tests.
        let why = format!("SKIPPED {test}: Chromium is not installed (apt-get install chromium; .ci/run does it)\n");
        let _ = std::io::stderr().write_all(why.as_bytes());
    }
    found
}

fn screenshot_path(name: &str) -> PathBuf {
    xtask::target_dir().join("test-logs").join(format!("{name}.png"))
}

/// A live view fed by a socket that stands in for QEMU's COM2.
fn fake_com2() -> Result<(live::LiveView, UnixStream, PathBuf)> {
    let view = live::serve(0)?;
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("mosaic-view-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (listener, args) = live::com2_socket(&dir)?;
    assert_eq!(args[0], "-chardev");
    assert!(args[1].starts_with("socket,id=com2,path=") && args[3] == "chardev:com2", "{args:?}");
    live::feed_com2(Arc::clone(&view.hub), listener);
    let com2 = UnixStream::connect(dir.join("com2.sock"))?;
    Ok((view, com2, dir))
}

fn write_line(com2: &mut UnixStream, line: &str) -> Result<()> {
    com2.write_all(line.trim_end().as_bytes())?;
    com2.write_all(b"\n")?;
    Ok(com2.flush()?)
}

#[test]
fn fake_com2_lines_reach_the_event_stream() -> Result<()> {
    let (view, mut com2, dir) = fake_com2()?;
    let addr = view.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let mut http = std::net::TcpStream::connect(&addr)?;
    http.set_read_timeout(Some(PATIENCE))?;
    write!(http, "GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
    let mut events = BufReader::new(http);
    let mut next_event = || -> Result<Value> {
        let mut line = String::new();
        loop {
            line.clear();
            if events.read_line(&mut line)? == 0 {
                bail!("the event stream ended");
            }
            if let Some(data) = line.strip_prefix("data: ") {
                return Ok(serde_json::from_str(data)?);
            }
        }
    };
    write_line(&mut com2, &fixture("boot"))?;
    assert_eq!(next_event()?["seq"], 0);
    write_line(&mut com2, &fixture("vmalloc"))?;
    let e = next_event()?;
    assert_eq!(e["command"], "vmalloc 20000");
    assert!(e["pictures"]["vmalloc"]
        .as_str()
        .unwrap_or("")
        .contains("data-caller=\"kernel/src/shell/vm_commands.rs:28\""));
    write_line(&mut com2, "mosaic> this is not JSON")?;
    assert!(next_event()?["error"].as_str().unwrap_or("").contains("not a state"));
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// Cells per code in the page's physical-memory picture.
const HISTOGRAM: &str = "(() => { const h = {}; for (const r of document.querySelectorAll('#memmap rect.cell')) \
    { h[r.dataset.code] = (h[r.dataset.code] || 0) + Number(r.dataset.n); } return h; })()";
const AREAS: &str = "document.querySelectorAll('#vmalloc g.area').length";

/// The free-order part of a histogram (codes 0-9 and a).
fn free_orders(h: &Value) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = h
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| "0123456789a".contains(k.as_str()))
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn cells(h: &Value, code: &str) -> u64 {
    h[code].as_u64().unwrap_or(0)
}

#[test]
fn page_redraws_from_fixture_lines_in_chromium() -> Result<()> {
    let Some(chromium) = chromium_or_skip("page_redraws_from_fixture_lines_in_chromium") else { return Ok(()) };
    let (view, mut com2, dir) = fake_com2()?;
    let mut page = Browser::open(&chromium, &view.url)?;
    page.wait_until(
        "(document.getElementById('status')?.textContent ?? '').startsWith('waiting')",
        "the waiting status",
    )?;
    write_line(&mut com2, &fixture("boot"))?;
    page.wait_until("document.body?.dataset.seq === '0'", "state 0")?;
    assert_eq!(page.eval(AREAS)?, 0);
    let boot = page.eval(HISTOGRAM)?;

    write_line(&mut com2, &fixture("vmalloc"))?;
    page.wait_until("document.body?.dataset.seq === '1'", "state 1")?;
    assert_eq!(page.eval(AREAS)?, 1);
    let caller = page.eval("document.querySelector('#vmalloc g.area').dataset.caller")?;
    assert_eq!(caller, "kernel/src/shell/vm_commands.rs:28");
    let after = page.eval(HISTOGRAM)?;
    assert_eq!(cells(&after, "V"), cells(&boot, "V") + 1, "the area's frames: {after}");
    assert_ne!(free_orders(&after), free_orders(&boot), "free-order colours must change");
    assert_eq!(page.eval("document.querySelector('#pagetable g.level[data-level=PTE]').dataset.index")?, "0");

    write_line(&mut com2, &fixture("fragmented"))?;
    page.wait_until("document.body?.dataset.seq === '5'", "state 5")?;
    assert_eq!(page.eval(AREAS)?, 3);
    assert_eq!(cells(&page.eval(HISTOGRAM)?, "U"), 1);
    assert_eq!(page.eval("document.getElementById('pagetable').textContent.includes('NO_CACHE')")?, true);

    write_line(&mut com2, "garbage")?;
    page.wait_until("document.getElementById('status').textContent.startsWith('error:')", "the error")?;
    assert_eq!(page.eval(AREAS)?, 3, "a bad line leaves the pictures as they were");
    page.screenshot(&screenshot_path("view-fixtures"))?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

/// The xtask binary (set by `cargo xtask test`, else the one in target/).
fn xtask_bin() -> PathBuf {
    std::env::var_os("MOSAIC_XTASK")
        .map(PathBuf::from)
        .unwrap_or_else(|| xtask::target_dir().join("debug").join("xtask"))
}

/// `cargo xtask run --view`, its console's output collected, its URL read
/// from its stderr.
struct Run {
    child: std::process::Child,
    console: Arc<Mutex<String>>,
    url: String,
}

impl Run {
    fn start(args: &[&str]) -> Result<Run> {
        let mut child = Command::new(xtask_bin())
            .args(["run", "--view"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start xtask")?;
        let console = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().expect("piped");
        let out = Arc::clone(&console);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                out.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("xtask: {line}");
                if let Some(url) = line.split_whitespace().find(|w| w.starts_with("http://127.0.0.1:")) {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = rx.recv_timeout(PATIENCE).context("xtask run --view printed no URL")?;
        Ok(Run { child, console, url })
    }

    fn type_line(&mut self, line: &str) -> Result<()> {
        let stdin = self.child.stdin.as_mut().context("stdin closed")?;
        stdin.write_all(format!("{line}\n").as_bytes())?;
        Ok(stdin.flush()?)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn xtask_run_view_redraws_after_each_command() -> Result<()> {
    let Some(chromium) = chromium_or_skip("xtask_run_view_redraws_after_each_command") else { return Ok(()) };
    // 32 MiB: 8192 pages in 4096 cells, so that every page shows.
    let mut run = Run::start(&["-m", "32M"])?;
    let mut page = Browser::open(&chromium, &run.url)?;
    if let Err(e) = page.wait_until("document.body?.dataset.seq !== undefined", "the boot state") {
        if run.console.lock().unwrap().contains("unknown option `view=on`") {
            bail!("this kernel does not know `view=on` (the kernel side of issue 16, docs/visual.md): {e:#}");
        }
        return Err(e);
    }
    let mut seq: u64 = page.eval("Number(document.body?.dataset.seq)")?.as_u64().unwrap_or(0);
    let mut step = |page: &mut Browser, run: &mut Run, line: &str| -> Result<Value> {
        run.type_line(line)?;
        seq += 1;
        page.wait_until(&format!("Number(document.body?.dataset.seq) >= {seq}"), &format!("the state after `{line}`"))?;
        page.eval(HISTOGRAM)
    };
    let areas = page.eval(AREAS)?.as_u64().unwrap_or(0);
    let boot = page.eval(HISTOGRAM)?;

    let after_vmalloc = step(&mut page, &mut run, "vmalloc 20000")?;
    assert_eq!(page.eval(AREAS)?.as_u64(), Some(areas + 1), "the new area is drawn");
    let callers =
        page.eval("[...document.querySelectorAll('#vmalloc g.area')].map(a => a.dataset.caller).join(' ')")?;
    assert!(callers.as_str().unwrap_or("").contains("kernel/src/"), "areas are labelled by caller: {callers}");
    assert_eq!(page.eval("document.querySelectorAll('#pagetable g.level').length")?, 4, "the walk of the new area");
    assert_ne!(after_vmalloc, boot, "the area's frames show in the physical map");

    let after_alloc = step(&mut page, &mut run, "alloc_pages 3")?;
    assert!(cells(&after_alloc, "U") >= 3, "the shell's 8 pages show: {after_alloc}");
    assert_ne!(free_orders(&after_alloc), free_orders(&after_vmalloc), "free-order colours change");
    page.screenshot(&screenshot_path("view-xtask-run"))?;

    let block = {
        let console = run.console.lock().unwrap();
        let line = console.lines().rev().find(|l| l.contains("(order 3: 8 pages")).map(String::from);
        line.and_then(|l| l.split_whitespace().next().map(String::from))
            .context("no alloc_pages answer on the console")?
    };
    let after_free = step(&mut page, &mut run, &format!("free_pages {block} 3"))?;
    assert_eq!(cells(&after_free, "U"), 0, "the block is gone from the map: {after_free}");
    run.type_line("shutdown")?;
    drop(run.child.stdin.take());
    let status = run.child.wait()?;
    assert_eq!(status.code(), Some(0), "console:\n{}", run.console.lock().unwrap());
    Ok(())
}
