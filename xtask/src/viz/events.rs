//! A client of the live view's event stream (`/events`, server-sent
//! events), as a browser's EventSource would read it: for `cargo xtask
//! bench --part view`, which times how soon the pictures arrive after a
//! command's answer. Only what the server of `live.rs` sends is read:
//! `data:` lines ending at a blank line, `:` comments skipped.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

/// Reads events from a stream whose HTTP head has been read.
pub struct EventStream<R> {
    reader: R,
}

impl<R: BufRead> EventStream<R> {
    pub fn new(reader: R) -> EventStream<R> {
        EventStream { reader }
    }

    /// The next event's data (its `data:` lines joined with newlines), or
    /// None when the stream ends. Comments and events without data (which
    /// EventSource does not deliver) are skipped.
    pub fn next_data(&mut self) -> Result<Option<String>> {
        let mut data: Option<String> = None;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line).context("reading the event stream")? == 0 {
                return Ok(None);
            }
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if data.is_some() {
                    return Ok(data);
                }
                continue;
            }
            // The field's value starts after "data:" and one optional space.
            if let Some(value) = line.strip_prefix("data:") {
                let value = value.strip_prefix(' ').unwrap_or(value);
                match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                }
            }
        }
    }
}

/// Opens `url` + `events` (`url` as `live::serve` prints it) and reads
/// the HTTP head; fails unless the answer is 200.
pub fn connect(url: &str) -> Result<EventStream<BufReader<TcpStream>>> {
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(addr).with_context(|| format!("cannot connect to the live view at {addr}"))?;
    write!(stream, "GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
        .context("cannot ask for /events")?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).context("reading the answer to GET /events")?;
    if !status.starts_with("HTTP/1.1 200") {
        bail!("GET /events answered {:?}", status.trim_end());
    }
    let mut header = String::new();
    while reader.read_line(&mut header).context("reading the headers of /events")? > 0 && !header.trim_end().is_empty()
    {
        header.clear();
    }
    Ok(EventStream::new(reader))
}

/// The median of some measurements (the mean of the middle two of an
/// even count); None if there are none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<String> {
        let mut events = EventStream::new(text.as_bytes());
        std::iter::from_fn(|| events.next_data().unwrap()).collect()
    }

    #[test]
    fn data_lines_make_events_and_comments_do_not() {
        let text = ": still here\n\ndata: {\"seq\":0}\n\n: still here\n\ndata:{\"seq\":1}\r\n\r\n";
        assert_eq!(all(text), ["{\"seq\":0}", "{\"seq\":1}"]);
    }

    #[test]
    fn several_data_lines_join_and_an_unended_event_is_dropped() {
        assert_eq!(all("data: a\ndata: b\nid: 7\n\ndata: lost"), ["a\nb"]);
        assert!(all("").is_empty());
    }

    #[test]
    fn medians_of_odd_even_and_none() {
        assert_eq!(median(&[3.0, -1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn the_live_views_stream_is_read_from_its_server() {
        let view = super::super::live::serve(0).unwrap();
        view.hub.publish(super::super::tests::FIXTURES[1].1);
        let mut events = connect(&view.url).unwrap();
        let first: serde_json::Value = serde_json::from_str(&events.next_data().unwrap().unwrap()).unwrap();
        assert_eq!(first["command"], "vmalloc 20000");
        assert!(first["pictures"]["memmap"].as_str().unwrap().starts_with("<svg"));
    }
}
