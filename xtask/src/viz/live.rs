//! The live view of `cargo xtask run --view`: the kernel writes one
//! `mosaic-state` line to COM2 after every command; `feed` reads them from
//! QEMU's socket, renders the pictures, and the HTTP server on 127.0.0.1
//! pushes them to every open page as server-sent events.
//!
//! The server renders the SVG (one renderer for `viz`, `--docs` and the
//! live page; the page stays a few lines of script). Routes:
//! `/` the page, `/events` the event stream (the newest state at once,
//! then each new one), `/state.json` the newest state line as the kernel
//! wrote it, `/<picture>.svg` the newest picture.

use super::model::State;
use crate::qemu::Machine;
use anyhow::{anyhow, Context, Result};
use std::io::{BufRead, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The newest state, rendered, and the pages waiting for the next one.
#[derive(Default)]
pub struct Hub {
    latest: Mutex<Option<Latest>>,
    pages: Mutex<Vec<Sender<Arc<String>>>>,
    /// State lines read so far, good or bad.
    lines: Mutex<u64>,
}

#[derive(Clone)]
struct Latest {
    /// The event's JSON: `{"seq","command","pictures":{name: svg}}` or `{"error"}`.
    event: Arc<String>,
    line: Option<String>,
    svgs: Vec<(&'static str, String)>,
}

impl Hub {
    /// Reads one COM2 line, renders it and sends it to every page. A line
    /// that is not a state is sent as an error event, so the page says
    /// what went wrong instead of going quiet.
    pub fn publish(&self, line: &str) {
        *self.lines.lock().unwrap() += 1;
        let latest = match State::parse(line) {
            Ok(state) => {
                let pictures = super::render(&state);
                let map: serde_json::Map<String, serde_json::Value> =
                    pictures.iter().map(|p| (p.name.to_string(), p.svg.clone().into())).collect();
                let event = serde_json::json!({"seq": state.seq, "command": state.command, "pictures": map});
                let svgs = pictures.into_iter().map(|p| (p.name, p.svg)).collect();
                Latest { event: Arc::new(event.to_string()), line: Some(line.trim().to_string()), svgs }
            }
            Err(e) => {
                let event = serde_json::json!({"error": format!("a COM2 line is not a state: {e}")});
                let old = self.latest.lock().unwrap().clone();
                Latest { event: Arc::new(event.to_string()), ..old.unwrap_or(Latest::empty()) }
            }
        };
        let event = Arc::clone(&latest.event);
        *self.latest.lock().unwrap() = Some(latest);
        self.pages.lock().unwrap().retain(|page| page.send(Arc::clone(&event)).is_ok());
    }

    /// The newest state line, as the kernel wrote it.
    pub fn latest_line(&self) -> Option<String> {
        self.latest.lock().unwrap().as_ref().and_then(|l| l.line.clone())
    }

    /// How many state lines were read.
    pub fn lines_read(&self) -> u64 {
        *self.lines.lock().unwrap()
    }

    fn subscribe(&self) -> std::sync::mpsc::Receiver<Arc<String>> {
        let (tx, rx) = channel();
        if let Some(latest) = &*self.latest.lock().unwrap() {
            let _ = tx.send(Arc::clone(&latest.event));
        }
        self.pages.lock().unwrap().push(tx);
        rx
    }
}

impl Latest {
    fn empty() -> Latest {
        Latest { event: Arc::new(String::new()), line: None, svgs: Vec::new() }
    }
}

/// A running live view.
pub struct LiveView {
    pub url: String,
    pub hub: Arc<Hub>,
}

/// Starts the HTTP server on 127.0.0.1:`port` (0: any free port).
pub fn serve(port: u16) -> Result<LiveView> {
    let server = tiny_http::Server::http(("127.0.0.1", port))
        .map_err(|e| anyhow!("cannot serve the live view on 127.0.0.1:{port}: {e}"))?;
    let port = server.server_addr().to_ip().map(|a| a.port()).context("the live view's server has no IP address")?;
    let hub = Arc::new(Hub::default());
    let served = Arc::clone(&hub);
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            route(request, &served);
        }
    });
    Ok(LiveView { url: format!("http://127.0.0.1:{port}/"), hub })
}

fn route(request: tiny_http::Request, hub: &Arc<Hub>) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let latest = hub.latest.lock().unwrap().clone();
    let (body, kind) = match path.as_str() {
        "/" | "/index.html" => (Some(super::page::live_page()), "text/html; charset=utf-8"),
        "/events" => {
            let hub = Arc::clone(hub);
            std::thread::spawn(move || stream_events(request, &hub));
            return;
        }
        "/state.json" => (latest.and_then(|l| l.line), "application/json"),
        _ => {
            let name = path.trim_start_matches('/').strip_suffix(".svg");
            let svg = latest.and_then(|l| l.svgs.into_iter().find(|(n, _)| Some(*n) == name).map(|(_, s)| s));
            (svg, "image/svg+xml")
        }
    };
    let response = match body {
        Some(body) => tiny_http::Response::from_string(body).with_header(header("Content-Type", kind)),
        None => tiny_http::Response::from_string("nothing here (yet)\n").with_status_code(404),
    };
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

/// Writes the event stream by hand on the raw socket: tiny_http's chunked
/// bodies are sent in 8 KiB chunks, and an event must go out at once.
/// Ends when the page goes away (a write fails; a comment every 15 s
/// finds out when nothing else is sent).
fn stream_events(request: tiny_http::Request, hub: &Hub) {
    let events = hub.subscribe();
    let mut out = request.into_writer();
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n";
    if out.write_all(head.as_bytes()).and_then(|_| out.flush()).is_err() {
        return;
    }
    loop {
        let chunk = match events.recv_timeout(Duration::from_secs(15)) {
            Ok(event) => format!("data: {event}\n\n"),
            Err(RecvTimeoutError::Timeout) => ": still here\n\n".to_string(),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if out.write_all(chunk.as_bytes()).and_then(|_| out.flush()).is_err() {
            return;
        }
    }
}

/// Starts the server on `port` and gives `machine` what `run --view`
/// gives it: a COM2 socket in `dir` that feeds the server, and `view=on`.
pub fn attach(machine: &mut Machine, dir: &Path, port: u16) -> Result<LiveView> {
    let view = serve(port)?;
    let (listener, qemu_args) = com2_socket(dir)?;
    machine.extra.extend(qemu_args);
    machine.cmdline = format!("{} view=on", machine.cmdline).trim_start().to_string();
    feed_com2(Arc::clone(&view.hub), listener);
    Ok(view)
}

/// Publishes every line `from` gives until it ends (QEMU closed COM2).
pub fn feed(hub: Arc<Hub>, from: impl BufRead + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in from.lines().map_while(std::result::Result::ok) {
            if !line.trim().is_empty() {
                hub.publish(&line);
            }
        }
    })
}

/// A socket in `dir` for QEMU's COM2, listening before QEMU starts so
/// QEMU (the client) connects at once; the QEMU arguments that make it
/// the second serial port.
pub fn com2_socket(dir: &Path) -> Result<(UnixListener, Vec<String>)> {
    let path: PathBuf = dir.join("com2.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).with_context(|| format!("cannot listen on {}", path.display()))?;
    let chardev = format!("socket,id=com2,path={}", path.display().to_string().replace(',', ",,"));
    Ok((listener, vec!["-chardev".into(), chardev, "-serial".into(), "chardev:com2".into()]))
}

/// Accepts QEMU's connection on `listener` and feeds what it writes.
pub fn feed_com2(hub: Arc<Hub>, listener: UnixListener) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            let _ = feed(hub, std::io::BufReader::new(stream)).join();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn get(url: &str, path: &str) -> String {
        let addr = url.trim_start_matches("http://").trim_end_matches('/');
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn page_state_and_pictures_are_served() {
        let view = serve(0).unwrap();
        assert!(get(&view.url, "/state.json").starts_with("HTTP/1.1 404"));
        let page = get(&view.url, "/");
        assert!(page.contains("new EventSource('/events')") && !page.contains("http://"), "{page}");
        view.hub.publish(super::super::tests::FIXTURES[1].1);
        assert!(get(&view.url, "/state.json").contains("\"command\":\"vmalloc 20000"));
        assert!(get(&view.url, "/vmalloc.svg").contains("class=\"area\""));
        assert!(get(&view.url, "/nothing.svg").starts_with("HTTP/1.1 404"));
    }

    #[test]
    fn events_carry_each_state_and_errors() {
        let view = serve(0).unwrap();
        view.hub.publish(super::super::tests::FIXTURES[0].1);
        let addr = view.url.trim_start_matches("http://").trim_end_matches('/').to_string();
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(s, "GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut reader = std::io::BufReader::new(s);
        let mut events = Vec::new();
        let mut line = String::new();
        // The newest state comes at once; then the two published below.
        while events.len() < 3 {
            line.clear();
            assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
            if let Some(data) = line.strip_prefix("data: ") {
                events.push(serde_json::from_str::<serde_json::Value>(data).unwrap());
                if events.len() == 1 {
                    view.hub.publish(super::super::tests::FIXTURES[1].1);
                    view.hub.publish("{\"schema\":\"nonsense\"}");
                }
            }
        }
        assert_eq!(events[0]["seq"], 0);
        assert_eq!(events[1]["command"], "vmalloc 20000");
        assert!(events[1]["pictures"]["vmalloc"].as_str().unwrap().contains("class=\"area\""));
        assert!(events[2]["error"].as_str().unwrap().contains("not a state"), "{}", events[2]);
        assert_eq!(view.hub.lines_read(), 3);
    }
}
