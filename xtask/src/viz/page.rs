//! The HTML around the pictures: `static_page` is `cargo xtask viz`'s
//! index.html (the SVGs inline, so tooltips work and one file shows
//! everything); `live_page` is what `cargo xtask run --view` serves, the
//! same layout with empty figures that a few lines of inline JavaScript fill
//! from the server-sent events of `/events`. Nothing is fetched from
//! anywhere else: the page works offline.

use super::model::State;
use super::Picture;

const STYLE: &str = "body{font-family:sans-serif;margin:1em;background:#fafafa;color:#252525}\
figure{margin:0 0 1.5em 0;background:#fff;border:1px solid #ddd;padding:.5em;overflow-x:auto}\
figcaption{font-weight:bold;margin-bottom:.3em}#status{font-family:monospace;margin-bottom:1em}";

/// The four figures, in the order of `super::render`.
const FIGURES: [(&str, &str); 4] = [
    ("memmap", "Physical memory by owner and free order"),
    ("vmalloc", "The vmalloc area, each area with its caller"),
    ("pagetable", "The page-table walk of the last vmalloc area"),
    ("buddyinfo", "Free blocks per order and zone"),
];

/// The live page's script: each event carries either the rendered
/// pictures of a new state or the error reading a state line.
const SCRIPT: &str = r#"
const status = document.getElementById('status');
function show(update) {
  if (update.error) { status.textContent = 'error: ' + update.error; return; }
  for (const [name, svg] of Object.entries(update.pictures)) {
    document.getElementById(name).innerHTML = svg;
  }
  status.textContent = 'state ' + update.seq + ' after: ' + update.command;
  document.body.dataset.seq = update.seq;
}
const events = new EventSource('/events');
events.onmessage = (e) => show(JSON.parse(e.data));
events.onerror = () => { status.textContent = 'disconnected: the machine stopped, or xtask ended'; };
"#;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(title: &str, status: &str, figure: impl Fn(&str) -> String, script: &str) -> String {
    let mut html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n<body>\n<h1>{}</h1>\n<div id=\"status\">{}</div>\n",
        escape(title),
        escape(title),
        escape(status)
    );
    for (id, caption) in FIGURES {
        html += &format!("<figure><figcaption>{caption}</figcaption><div id=\"{id}\">{}</div></figure>\n", figure(id));
    }
    if !script.is_empty() {
        html += &format!("<script>{script}</script>\n");
    }
    html + "</body></html>\n"
}

/// index.html of `cargo xtask viz`, with the pictures inline.
pub fn static_page(state: &State, pictures: &[Picture]) -> String {
    let status = format!("state {} after: {}", state.seq, state.command);
    let figure = |id: &str| pictures.iter().find(|p| p.name == id).map(|p| p.svg.clone()).unwrap_or_default();
    page("Mosaic memory", &status, figure, "")
}

/// The page of `cargo xtask run --view`.
pub fn live_page() -> String {
    page("Mosaic memory, live", "waiting for the kernel's first state line", |_| String::new(), SCRIPT)
}
