//! The kernel's JSON pictures of memory (docs/visual.md, schema version 1),
//! read into Rust types: `memmap json`, `vmmap json`, `pt <vaddr> json`, and
//! the `mosaic-state` line the kernel writes to COM2 with `view=on`.
//!
//! Only what the pictures use is read; fields the kernel adds later are
//! ignored, so a newer kernel still draws. The schema name and version are
//! checked, so a dump of something else is refused with a clear message.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

/// The schema version this renderer understands.
pub const VERSION: u64 = 1;

/// What went wrong reading a dump.
#[derive(Debug, PartialEq, Eq)]
pub enum DumpError {
    /// Not JSON, or JSON of another shape (serde's message says where).
    Json(String),
    /// A `schema` or `version` this renderer does not draw.
    Schema { expected: &'static str, found: String },
    /// The JSON is well formed but says something impossible.
    Invalid(String),
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            DumpError::Json(e) => write!(f, "not a dump of the expected shape: {e}"),
            DumpError::Schema { expected, found } => {
                write!(f, "expected schema {expected} version {VERSION}, found {found}")
            }
            DumpError::Invalid(e) => write!(f, "inconsistent dump: {e}"),
        }
    }
}

impl std::error::Error for DumpError {}

/// An address or a physical frame's address: `"0x..."` in the JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hex(pub u64);

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hex, D::Error> {
        let text = String::deserialize(d)?;
        let digits = text.strip_prefix("0x").ok_or_else(|| serde::de::Error::custom(format!("{text:?} lacks 0x")))?;
        u64::from_str_radix(digits, 16).map(Hex).map_err(|_| serde::de::Error::custom(format!("{text:?} is not hex")))
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

/// The line on COM2 after every command: everything the pictures need.
#[derive(Clone, Debug, Deserialize)]
pub struct State {
    pub schema: String,
    pub version: u64,
    pub seq: u64,
    #[serde(default)]
    pub command: String,
    pub memmap: MemMap,
    pub vmmap: VmMap,
    pub pt: Option<PageWalk>,
}

/// `memmap json`: physical memory in cells of `pages_per_cell` pages.
#[derive(Clone, Debug, Deserialize)]
pub struct MemMap {
    pub schema: String,
    pub version: u64,
    pub page_size: u64,
    pub total_pages: u64,
    pub pages_per_cell: u64,
    pub cells_count: usize,
    /// The first cell's frame number (a zone's start when one was asked).
    #[serde(default)]
    pub start_pfn: u64,
    pub zones: Vec<Zone>,
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// One cell code per cell (see `CODES`).
    pub cells: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Zone {
    pub name: String,
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub free_pages: u64,
    /// Free blocks per order, 0 to 10 (Linux's /proc/buddyinfo).
    pub buddyinfo: Vec<u64>,
}

/// `vmmap json`: the vmalloc area's busy areas and free ranges.
#[derive(Clone, Debug, Deserialize)]
pub struct VmMap {
    pub schema: String,
    pub version: u64,
    pub start: Hex,
    pub end: Hex,
    #[serde(default)]
    pub allocator: String,
    pub areas: Vec<Area>,
    #[serde(default)]
    pub free: Vec<Range>,
    #[serde(default)]
    pub largest_free: Option<Range>,
}

/// A busy area; `end` is exclusive and includes the guard page if any.
#[derive(Clone, Debug, Deserialize)]
pub struct Area {
    pub start: Hex,
    pub end: Hex,
    pub kind: String,
    pub pages: u64,
    #[serde(default)]
    pub guard: bool,
    #[serde(default)]
    pub requested: u64,
    #[serde(default)]
    pub caller: String,
    #[serde(default)]
    pub phys: Option<Hex>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub struct Range {
    pub start: Hex,
    pub end: Hex,
}

/// `pt <vaddr> json`: one page-table walk, top level first.
#[derive(Clone, Debug, Deserialize)]
pub struct PageWalk {
    pub schema: String,
    pub version: u64,
    pub vaddr: Hex,
    pub levels: Vec<Level>,
    pub phys: Option<Hex>,
    #[serde(default)]
    pub huge: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Level {
    pub level: String,
    pub index: u64,
    pub entry: Hex,
    #[serde(default)]
    pub flags: Vec<String>,
    pub next: Option<Hex>,
}

/// The cell codes of docs/visual.md, in the order that breaks ties.
pub const CODES: &str = "0123456789apKMTSVUXR.";

fn check(schema: &str, version: u64, expected: &'static str) -> Result<(), DumpError> {
    if schema == expected && version == VERSION {
        Ok(())
    } else {
        Err(DumpError::Schema { expected, found: format!("{schema} version {version}") })
    }
}

fn json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, DumpError> {
    serde_json::from_str(text.trim()).map_err(|e| DumpError::Json(e.to_string()))
}

impl MemMap {
    pub fn parse(text: &str) -> Result<MemMap, DumpError> {
        let map: MemMap = json(text)?;
        map.validate()?;
        Ok(map)
    }

    fn validate(&self) -> Result<(), DumpError> {
        check(&self.schema, self.version, "mosaic-memmap")?;
        if self.cells.chars().count() != self.cells_count {
            let n = self.cells.chars().count();
            return Err(DumpError::Invalid(format!("cells_count is {} but {n} cells are given", self.cells_count)));
        }
        if let Some(bad) = self.cells.chars().find(|c| !CODES.contains(*c)) {
            return Err(DumpError::Invalid(format!("unknown cell code {bad:?} (known: {CODES})")));
        }
        if self.pages_per_cell == 0 {
            return Err(DumpError::Invalid("pages_per_cell is 0".into()));
        }
        Ok(())
    }
}

impl VmMap {
    pub fn parse(text: &str) -> Result<VmMap, DumpError> {
        let map: VmMap = json(text)?;
        map.validate()?;
        Ok(map)
    }

    fn validate(&self) -> Result<(), DumpError> {
        check(&self.schema, self.version, "mosaic-vmmap")?;
        let ranges = self.areas.iter().map(|a| (a.start, a.end)).chain(self.free.iter().map(|r| (r.start, r.end)));
        for (start, end) in ranges {
            if start >= end || start < self.start || end > self.end {
                return Err(DumpError::Invalid(format!(
                    "range {start}-{end} is empty or outside the area {}-{}",
                    self.start, self.end
                )));
            }
        }
        Ok(())
    }
}

impl PageWalk {
    pub fn parse(text: &str) -> Result<PageWalk, DumpError> {
        let walk: PageWalk = json(text)?;
        check(&walk.schema, walk.version, "mosaic-pt")?;
        Ok(walk)
    }
}

impl State {
    /// Reads one `mosaic-state` line.
    pub fn parse(line: &str) -> Result<State, DumpError> {
        let state: State = json(line)?;
        check(&state.schema, state.version, "mosaic-state")?;
        state.memmap.validate()?;
        state.vmmap.validate()?;
        if let Some(pt) = &state.pt {
            check(&pt.schema, pt.version, "mosaic-pt")?;
        }
        Ok(state)
    }

    /// Reads the last state line of a file (a saved dump, or a COM2
    /// capture with one line per command).
    pub fn parse_last(text: &str) -> Result<State, DumpError> {
        let line = text.lines().rev().find(|l| !l.trim().is_empty());
        State::parse(line.ok_or_else(|| DumpError::Invalid("the file is empty".into()))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_parse() {
        for (name, text) in super::super::tests::FIXTURES {
            State::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn wrong_schema_and_bad_cells_are_refused() {
        let pt = r#"{"schema":"mosaic-vmmap","version":1,"vaddr":"0x0","levels":[],"phys":null}"#;
        assert_eq!(
            PageWalk::parse(pt).unwrap_err().to_string(),
            "expected schema mosaic-pt version 1, found mosaic-vmmap version 1"
        );
        let mm = r#"{"schema":"mosaic-memmap","version":1,"page_size":4096,"total_pages":2,"pages_per_cell":1,
            "cells_count":2,"zones":[],"cells":"0Z"}"#;
        assert!(MemMap::parse(mm).unwrap_err().to_string().contains("unknown cell code 'Z'"));
        let mm = mm.replace("0Z", "0");
        assert!(MemMap::parse(&mm).unwrap_err().to_string().contains("cells_count is 2 but 1 cells"));
        assert!(matches!(State::parse("not json"), Err(DumpError::Json(_))));
        assert!(State::parse_last("\n \n").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn hex_needs_its_prefix() {
        let vm = r#"{"schema":"mosaic-vmmap","version":1,"start":"1000","end":"0x2000","areas":[]}"#;
        assert!(VmMap::parse(vm).unwrap_err().to_string().contains("lacks 0x"));
    }

    #[test]
    fn areas_outside_the_vmalloc_range_are_refused() {
        let vm = r#"{"schema":"mosaic-vmmap","version":1,"start":"0x1000","end":"0x2000",
            "areas":[{"start":"0x1800","end":"0x3000","kind":"vmalloc","pages":1}]}"#;
        assert!(VmMap::parse(vm).unwrap_err().to_string().contains("outside the area"));
    }
}
