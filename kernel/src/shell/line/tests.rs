//! Host tests of the line editor: keys, escapes, history, the length limit.

use super::*;

/// An event with the line as it stood then.
type Seen = (Event, Result<String, TooLong>);

/// Feeds `input`, returns the events that were not Pending and the echo.
fn run(ed: &mut LineEditor, input: &[u8]) -> (Vec<Seen>, Vec<u8>) {
    let mut shown = Vec::new();
    let mut events = Vec::new();
    for &b in input {
        let ev = ed.feed(b, &mut |bytes: &[u8]| shown.extend_from_slice(bytes));
        if ev != Event::Pending {
            let line = ed.line().map(String::from);
            events.push((ev, line));
        }
    }
    (events, shown)
}

fn lines(ed: &mut LineEditor, input: &[u8]) -> Vec<String> {
    run(ed, input).0.into_iter().filter(|(e, _)| *e == Event::Submitted).map(|(_, l)| l.unwrap()).collect()
}

#[test]
fn enter_submits_once_for_crlf() {
    let mut ed = LineEditor::new();
    assert_eq!(lines(&mut ed, b"help\r\necho a\nx\r"), ["help", "echo a", "x"]);
}

#[test]
fn backspace_and_ctrl_u() {
    let mut ed = LineEditor::new();
    let (_, shown) = run(&mut ed, b"ab\x7f");
    assert_eq!(shown, b"ab\x08 \x08");
    assert_eq!(lines(&mut ed, b"c\x08d\n"), ["ad"]);
    assert_eq!(lines(&mut ed, b"junk\x15ok\n"), ["ok"]);
    assert_eq!(lines(&mut ed, b"\x7f\x7f\n"), [""]);
}

#[test]
fn ctrl_c_abandons_the_line() {
    let mut ed = LineEditor::new();
    let (events, shown) = run(&mut ed, b"rm\x03");
    assert_eq!(events[0].0, Event::Cancelled);
    assert!(shown.ends_with(b"^C\r\n"));
    assert_eq!(lines(&mut ed, b"ls\n"), ["ls"]);
}

#[test]
fn history_up_and_down() {
    let mut ed = LineEditor::new();
    lines(&mut ed, b"one\ntwo\n\nthree\nthree\n");
    assert_eq!(lines(&mut ed, b"\x1b[A\n"), ["three"]);
    assert_eq!(lines(&mut ed, b"\x1b[A\x1b[A\n"), ["two"]);
    // Up past the oldest stays on the oldest; Down to the end gives "".
    assert_eq!(lines(&mut ed, b"\x1b[A\x1b[A\x1b[A\x1b[A\x1b[A\n"), ["one"]);
    assert_eq!(lines(&mut ed, b"\x1b[A\x1b[B\n"), [""]);
    assert_eq!(lines(&mut ed, b"x\x1b[A\x1b[B\n"), [""]);
}

#[test]
fn history_keeps_the_newest_entries() {
    let mut ed = LineEditor::new();
    for i in 0..40 {
        lines(&mut ed, format!("cmd{i}\n").as_bytes());
    }
    let up = b"\x1b[A".repeat(HISTORY + 3);
    assert_eq!(lines(&mut ed, &[up.as_slice(), b"\n"].concat()), [format!("cmd{}", 40 - HISTORY)]);
}

#[test]
fn other_escapes_and_controls_are_ignored() {
    let mut ed = LineEditor::new();
    assert_eq!(lines(&mut ed, b"a\x1b[C\x1b[1;5D\x01\x02b\xffc\n"), ["abc"]);
}

#[test]
fn a_cut_short_escape_never_swallows_enter() {
    let mut ed = LineEditor::new();
    assert_eq!(lines(&mut ed, b"help\x1b\r"), ["help"]);
    assert_eq!(lines(&mut ed, b"echo a\x1b[\n"), ["echo a"]);
    assert_eq!(lines(&mut ed, b"echo b\x1b[1;\r\n"), ["echo b"]);
    // A lone ESC before a letter types the letter; two ESCs, then a
    // complete sequence, still work; Backspace inside a sequence erases.
    assert_eq!(lines(&mut ed, b"\x1bls\n"), ["ls"]);
    assert_eq!(lines(&mut ed, b"x\x1b\x1b[Cy\n"), ["xy"]);
    assert_eq!(lines(&mut ed, b"ab\x1b[\x7fc\n"), ["ac"]);
    let (events, _) = run(&mut ed, b"rm\x1b[\x03");
    assert_eq!(events[0].0, Event::Cancelled);
}

#[test]
fn tab_separates_words() {
    let mut ed = LineEditor::new();
    let (_, shown) = run(&mut ed, b"echo\tone\n");
    assert_eq!(shown, b"echo one\r\n");
    assert_eq!(lines(&mut ed, b"echo\tone\n"), ["echo one"]);
}

#[test]
fn an_overlong_line_erased_below_the_limit_is_what_the_terminal_shows() {
    let mut ed = LineEditor::new();
    let mut input = vec![b'x'; LINE_MAX + 10];
    input.extend_from_slice(b"\x7f\x7f\n");
    let got = lines(&mut ed, &input);
    assert_eq!(got, ["x".repeat(LINE_MAX - 2)]);
}

#[test]
fn overlong_line_is_reported_not_truncated() {
    let mut ed = LineEditor::new();
    let long = vec![b'x'; 4096];
    let (events, _) = run(&mut ed, &[long.as_slice(), b"\n"].concat());
    assert_eq!(events, [(Event::Submitted, Err(TooLong))]);
    assert_eq!(lines(&mut ed, b"ok\n"), ["ok"]);
    // Overlong lines are not kept in the history.
    assert_eq!(lines(&mut ed, b"\x1b[A\x1b[A\n"), ["ok"]);
}
