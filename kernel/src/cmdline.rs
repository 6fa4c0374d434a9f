//! The kernel's command line: the options it knows, and what an option it
//! does not know gets. Hardware-free (fw_cfg.rs reads the bytes), so it is
//! tested on the host.
//!
//! Options are words separated by spaces, as on Linux's command line:
//!
//! | option             | effect                                             |
//! |--------------------|----------------------------------------------------|
//! | `ktest`            | run every in-kernel test, then exit QEMU           |
//! | `ktest=<filter>`   | run the tests whose name contains `<filter>`       |
//! | `panic=exit`       | a panic exits QEMU with a failure status           |
//! | `vmalloc=list`     | the vmalloc area allocator is 2.4's list (lab 2)   |
//! | `vmalloc=tree`     | ... or the tree (the default)                      |
//! | `vmalloc=check`    | ... or both, compared on every request (oracle)    |
//! | `redzone=on\|off`  | the vmalloc overrun check (default: on in debug)   |
//! | `vfree=eager\|lazy` | how frees flush the TLB (default: eager; vmalloc/purge.rs) |
//! | `lazy_max_pages=N` | lazily freed pages that trigger a purge (default 8192) |
//! | `view=on\|off`     | the state line on COM2 after every command (docs/visual.md) |
//!
//! Linux ignores what it does not know and passes it to init; Mosaic has no
//! init, so an unknown option or value is a typo, and it is said so on the
//! console at boot (`vmalloc=lst` would otherwise quietly mean the tree).

use crate::mm::vmap_area::Areas;
use core::fmt;

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct Options<'a> {
    /// `Some("")` for a bare `ktest`: every test.
    pub ktest: Option<&'a str>,
    pub panic_exit: bool,
    /// `vmalloc=list|tree|check`: the area allocator (default: the tree).
    pub vmalloc: Areas,
    /// `redzone=on|off`; None leaves the build's default (mm::redzone).
    pub redzone: Option<bool>,
    /// `view=on`: write the memory state to COM2 after every command.
    pub view: bool,
    /// `vfree=lazy` (true) or `vfree=eager`; None: the default, eager.
    pub lazy_vfree: Option<bool>,
    /// `lazy_max_pages=N` (N > 0); None: Linux's value for one CPU.
    pub lazy_max_pages: Option<u64>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Options {
            ktest: None,
            panic_exit: false,
            vmalloc: Areas::Tree,
            redzone: None,
            view: false,
            lazy_vfree: None,
            lazy_max_pages: None,
        }
    }
}

/// A word of the command line that means nothing to the kernel.
#[derive(Debug, PartialEq, Eq)]
pub enum Complaint<'a> {
    Unknown(&'a str),
    BadValue { option: &'static str, value: &'a str, expected: &'static str },
}

impl fmt::Display for Complaint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Complaint::Unknown(word) => {
                write!(f, "unknown option `{word}`, ignored (known: ktest[=<filter>] panic=exit vmalloc=list|tree|check redzone=on|off view=on|off vfree=eager|lazy lazy_max_pages=N)")
            }
            Complaint::BadValue { option, value, expected } => {
                write!(f, "`{option}={value}`: the value must be {expected}; option ignored")
            }
        }
    }
}

/// Reads `line`, calling `complain` for each word it does not understand.
/// Later words win over earlier ones, as on Linux.
pub fn parse<'a>(line: &'a str, mut complain: impl FnMut(Complaint<'a>)) -> Options<'a> {
    let mut options = Options::default();
    for word in line.split_whitespace() {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word, None),
        };
        match (key, value) {
            ("ktest", v) => options.ktest = Some(v.unwrap_or("")),
            ("panic", Some("exit")) => options.panic_exit = true,
            ("panic", Some(v)) => complain(Complaint::BadValue { option: "panic", value: v, expected: "`exit`" }),
            ("vmalloc", Some("list")) => options.vmalloc = Areas::List,
            ("vmalloc", Some("tree")) => options.vmalloc = Areas::Tree,
            ("vmalloc", Some("check")) => options.vmalloc = Areas::Check,
            ("vmalloc", Some(v)) => {
                complain(Complaint::BadValue { option: "vmalloc", value: v, expected: "`list`, `tree` or `check`" })
            }
            ("redzone", Some("on")) => options.redzone = Some(true),
            ("redzone", Some("off")) => options.redzone = Some(false),
            ("redzone", Some(v)) => {
                complain(Complaint::BadValue { option: "redzone", value: v, expected: "`on` or `off`" })
            }
            ("view", Some("on")) => options.view = true,
            ("view", Some("off")) => options.view = false,
            ("view", Some(v)) => complain(Complaint::BadValue { option: "view", value: v, expected: "`on` or `off`" }),
            ("vfree", Some("eager")) => options.lazy_vfree = Some(false),
            ("vfree", Some("lazy")) => options.lazy_vfree = Some(true),
            ("vfree", Some(v)) => {
                complain(Complaint::BadValue { option: "vfree", value: v, expected: "`eager` or `lazy`" })
            }
            ("lazy_max_pages", Some(v)) => match v.parse::<u64>() {
                Ok(n) if (1..=1 << 20).contains(&n) => options.lazy_max_pages = Some(n),
                _ => complain(Complaint::BadValue {
                    option: "lazy_max_pages",
                    value: v,
                    expected: "a number of pages from 1 to 1048576",
                }),
            },
            _ => complain(Complaint::Unknown(word)),
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn parsed(line: &str) -> (Options<'_>, Vec<String>) {
        let mut said = Vec::new();
        let options = parse(line, |c| said.push(c.to_string()));
        (options, said)
    }

    #[test]
    fn known_options_are_read() {
        let (o, said) = parsed("ktest=buddy  panic=exit vmalloc=list");
        assert_eq!(o, Options { ktest: Some("buddy"), panic_exit: true, vmalloc: Areas::List, ..Options::default() });
        assert_eq!(parsed("vfree=lazy lazy_max_pages=64").0.lazy_vfree, Some(true));
        assert_eq!(parsed("vfree=lazy vfree=eager").0.lazy_vfree, Some(false));
        assert_eq!(parsed("lazy_max_pages=64").0.lazy_max_pages, Some(64));
        assert!(parsed("view=on").0.view && !parsed("view=on view=off").0.view);
        assert_eq!(parsed("redzone=off redzone=on").0.redzone, Some(true));
        assert_eq!(parsed("redzone=off").0.redzone, Some(false));
        assert!(said.is_empty(), "{said:?}");
        assert_eq!(parsed("ktest").0.ktest, Some(""));
        assert_eq!(parsed("vmalloc=list vmalloc=tree").0.vmalloc, Areas::Tree);
        assert_eq!(parsed("vmalloc=check").0.vmalloc, Areas::Check);
        assert_eq!(parsed("").0, Options::default());
    }

    #[test]
    fn unknown_options_and_values_are_reported_not_guessed() {
        let (o, said) = parsed("vmalloc=lst verbose panic=reboot vmalloc redzone=yes view=yes");
        assert!(o.vmalloc == Areas::Tree && !o.panic_exit && o.redzone.is_none() && !o.view);
        assert_eq!(said.len(), 6, "{said:?}");
        assert!(said[5].contains("`view=yes`"), "{}", said[5]);
        assert!(said[4].contains("`redzone=yes`") && said[4].contains("`on` or `off`"), "{}", said[4]);
        assert!(said[0].contains("`vmalloc=lst`") && said[0].contains("`list`, `tree` or `check`"), "{}", said[0]);
        assert!(said[1].contains("unknown option `verbose`"), "{}", said[1]);
        assert!(said[2].contains("`panic=reboot`"), "{}", said[2]);
        assert!(said[3].contains("unknown option `vmalloc`"), "{}", said[3]);
        let (o, said) = parsed("vfree=bogus lazy_max_pages=0 lazy_max_pages=x");
        assert!(o.lazy_vfree.is_none() && o.lazy_max_pages.is_none());
        assert!(
            said.len() == 3 && said[0].contains("`vfree=bogus`") && said[0].contains("`eager` or `lazy`"),
            "{said:?}"
        );
    }
}
