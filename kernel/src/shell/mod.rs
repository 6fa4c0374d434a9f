//! The serial-console shell: read a line, split it into words, look the first
//! word up in the command table, run it.
//!
//! Every failure is one line starting with `error: ` followed by the prompt
//! again; no input can bring the kernel down, except `crash <kind>`, which
//! exists to show the oops.

pub mod line;
pub mod parse;

// The commands themselves touch hardware: bare-metal target only.
#[cfg(target_os = "none")]
mod as_commands;
#[cfg(target_os = "none")]
mod commands;
#[cfg(target_os = "none")]
mod crash_command;
#[cfg(target_os = "none")]
mod explain_command;
#[cfg(target_os = "none")]
mod inject_commands;
#[cfg(target_os = "none")]
mod map_commands;
#[cfg(target_os = "none")]
mod map_json;
#[cfg(target_os = "none")]
mod mm_commands;
#[cfg(target_os = "none")]
mod purge_commands;
#[cfg(target_os = "none")]
pub mod test_vmalloc_command;
#[cfg(target_os = "none")]
pub mod view;
#[cfg(target_os = "none")]
mod vm_commands;
#[cfg(target_os = "none")]
mod vmblock_commands;
#[cfg(target_os = "none")]
mod vrealloc_command;
#[cfg(target_os = "none")]
pub use commands::COMMANDS;

use crate::bail;

/// The prompt; the host side also waits for it to know the kernel is ready.
pub const PROMPT: &str = "mosaic> ";
/// Sent just before every prompt: an SGR reset (`ESC [ 0 m`), which a
/// terminal shows as nothing. No command can print it (the line editor never
/// stores an ESC), so the host tools tell the real prompt from output that
/// merely reads `mosaic> ` (xtask/src/prompt.rs).
pub const PROMPT_MARK: &str = "\x1b[0m";
/// Most words a command line may have (the command name included).
pub const MAX_WORDS: usize = 16;

/// One shell command: an entry in the table in `commands.rs`.
pub struct Command {
    pub name: &'static str,
    /// Argument synopsis for `help` and usage errors, e.g. `<order> [zone]`.
    pub args: &'static str,
    /// One-line description for `help`.
    pub about: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    pub run: fn(&[&str]) -> Result<(), CmdError>,
}

/// A command's failure, printed as `error: <message>`: a fixed-buffer
/// `Message`, so reporting an error never needs the heap.
pub type CmdError = crate::message::Message;

impl From<parse::ParseError<'_>> for CmdError {
    fn from(e: parse::ParseError) -> Self {
        CmdError::from_display(e)
    }
}

/// Splits a line into at most `MAX_WORDS` words; `None` if there are more.
pub fn split_words(line: &str) -> Option<([&str; MAX_WORDS], usize)> {
    let mut words = [""; MAX_WORDS];
    let mut count = 0;
    for word in line.split_whitespace() {
        *words.get_mut(count)? = word;
        count += 1;
    }
    Some((words, count))
}

/// Finds `name` in `table`.
pub fn find<'a>(table: &'a [Command], name: &str) -> Option<&'a Command> {
    table.iter().find(|c| c.name == name)
}

/// Runs one command line against `table`, returning the error to print.
pub fn execute(table: &[Command], line: &str) -> Result<(), CmdError> {
    let Some((words, count)) = split_words(line) else {
        bail!("too many words (at most {MAX_WORDS})");
    };
    if count == 0 {
        return Ok(());
    }
    let Some(cmd) = find(table, words[0]) else {
        bail!("unknown command '{}' (type 'help' for the list)", parse::Shown(words[0]));
    };
    let args = &words[1..count];
    if args.len() < cmd.min_args || args.len() > cmd.max_args {
        bail!("usage: {} {}", cmd.name, cmd.args);
    }
    // A lab function the student has not written yet, reached on the way,
    // is the error to report: the command's own (say, "out of memory")
    // would point the wrong way (lab.rs).
    crate::lab::take_last();
    let result = (cmd.run)(args);
    match crate::lab::take_last() {
        Some(missing) => Err(CmdError::from_display(missing)),
        None => result,
    }
}

/// The read-eval-print loop. Never returns.
#[cfg(target_os = "none")]
pub fn run() -> ! {
    use crate::drivers::serial;
    use crate::println;
    use line::{Event, LineEditor, LINE_MAX};

    let mut editor = LineEditor::new();
    println!("Mosaic teaching kernel. Type 'help' for the commands.");
    view::publish("");
    loop {
        crate::print!("{PROMPT_MARK}{PROMPT}");
        let event = loop {
            let byte = serial::read_byte();
            match editor.feed(byte, &mut |echo: &[u8]| serial::write_bytes(echo)) {
                Event::Pending => continue,
                event => break event,
            }
        };
        if event == Event::Submitted {
            let result = match editor.line() {
                Ok(line) => {
                    serial::set_command_running(true);
                    let result = execute(COMMANDS, line);
                    serial::set_command_running(false);
                    result
                }
                Err(line::TooLong) => Err(CmdError::new(format_args!("line too long (at most {LINE_MAX} characters)"))),
            };
            if let Err(e) = result {
                println!("error: {e}");
            }
            // An empty line changes nothing: no new state line for it.
            match editor.line() {
                Ok(line) if line.trim().is_empty() => {}
                line => view::publish(line.unwrap_or("")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    std::thread_local! {
        static SEEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    fn record(args: &[&str]) -> Result<(), CmdError> {
        SEEN.with(|s| s.borrow_mut().push(args.join(",")));
        Ok(())
    }

    fn fail(_: &[&str]) -> Result<(), CmdError> {
        bail!("it failed with {}", 42)
    }

    const TABLE: &[Command] = &[
        Command { name: "one", args: "<x>", about: "", min_args: 1, max_args: 1, run: record },
        Command { name: "fail", args: "", about: "", min_args: 0, max_args: 0, run: fail },
    ];

    fn err(line: &str) -> String {
        execute(TABLE, line).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn dispatches_with_arguments() {
        assert!(execute(TABLE, "  one   7 ").is_ok());
        assert!(execute(TABLE, "").is_ok());
        assert_eq!(SEEN.with(|s| s.borrow().clone()), ["7"]);
    }

    #[test]
    fn errors_are_one_line() {
        assert_eq!(err("nope"), "unknown command 'nope' (type 'help' for the list)");
        assert_eq!(err("one"), "usage: one <x>");
        assert_eq!(err("one 1 2"), "usage: one <x>");
        assert_eq!(err("fail"), "it failed with 42");
        assert_eq!(err(&"w ".repeat(17)), "too many words (at most 16)");
        let long = err(&"x".repeat(1000));
        assert!(long.len() <= 160 && !long.contains('\n'), "{long}");
    }
}
