//! The kernel's embedded symbol table, written into the kernel ELF after
//! every build, so that the oops names functions and lines with no host
//! tool (kernel/src/oops/symbols.rs reads it; its layout is described
//! there).
//!
//! The kernel reserves the `.mosaic_symtab` section, an allocated one, so
//! the table survives the stripping of the images' debug info
//! (`build::strip_debug_info`) and symbols (boot/src/strip.rs). From the
//! unstripped ELF this reads the function symbols (demangled, without the
//! crate prefix), the DWARF line table (one row per change of line, in the
//! function the symbol names, not in what was inlined into it) and,
//! from the sources, the `// LAB n` regions; then it overwrites the
//! section in the ELF file. The table costs about a tenth of the text.

use crate::lab::markers;
use addr2line::gimli;
use anyhow::{bail, Context, Result};
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};
use std::collections::HashMap;
use std::path::Path;

/// The section the kernel reserves (kernel/src/oops/symbols.rs).
const SECTION: &str = ".mosaic_symtab";
const MAGIC: &[u8; 8] = b"MOSYMTAB";
const HEADER: usize = 56;
/// Names longer than this are cut (a generic's name can run to hundreds).
const MAX_NAME: usize = 120;

/// One function: link address, size, short name.
pub struct Function {
    pub start: u64,
    pub size: u64,
    pub name: String,
}

/// Writes the table into `kernel` (the ELF cargo built), unless it holds
/// the same table already. `root` is the tree's root, for the sources'
/// LAB markers and for short file names.
pub fn embed(kernel: &Path, root: &Path) -> Result<()> {
    let data = std::fs::read(kernel).with_context(|| format!("reading {}", kernel.display()))?;
    let elf = object::File::parse(&*data).with_context(|| format!("{} is not an ELF file", kernel.display()))?;
    let section = elf.section_by_name(SECTION).with_context(|| {
        format!("{} has no {SECTION} section (kernel/src/oops/symbols.rs reserves it)", kernel.display())
    })?;
    let (offset, size) = section.file_range().context("the symbol table section has no bytes in the file")?;
    let table = build(&elf, section.address(), root)?;
    if table.len() as u64 > size {
        bail!(
            "the kernel's symbol table needs {} bytes but {SECTION} has {size}: raise TABLE_SIZE in \
             kernel/src/oops/symbols.rs",
            table.len()
        );
    }
    let at = usize::try_from(offset)?;
    if data[at..at + table.len()] == table[..] {
        return Ok(());
    }
    let mut patched = data.clone();
    patched[at..at + table.len()].copy_from_slice(&table);
    // Written aside and renamed, so a parallel build never reads half of it.
    let tmp = kernel.with_extension(format!("symtab.{}", std::process::id()));
    std::fs::write(&tmp, &patched).with_context(|| format!("writing {}", tmp.display()))?;
    let permissions = std::fs::metadata(kernel)?.permissions();
    std::fs::set_permissions(&tmp, permissions)?;
    std::fs::rename(&tmp, kernel).with_context(|| format!("renaming {} into place", tmp.display()))?;
    Ok(())
}

/// The table's bytes for `elf`, whose table section is at `table_addr`.
fn build(elf: &object::File, table_addr: u64, root: &Path) -> Result<Vec<u8>> {
    let functions = functions(elf);
    let Some(base) = functions.first().map(|f| f.start) else { bail!("the kernel ELF has no function symbols") };
    let rows = line_rows(elf)?;
    let mut strings = Strings::default();
    let mut files: Vec<String> = Vec::new();
    let mut file_index: HashMap<String, u32> = HashMap::new();
    let mut lines = Vec::new();
    let mut records = Vec::new();
    let mut next_row = 0;
    for f in &functions {
        while next_row < rows.len() && rows[next_row].0 < f.start {
            next_row += 1;
        }
        let end = rows[next_row..].iter().position(|r| r.0 >= f.start + f.size).map_or(rows.len(), |n| next_row + n);
        let mut mine = Vec::new();
        for (addr, file, line) in &rows[next_row..end] {
            let index = *file_index.entry(file.clone()).or_insert_with(|| {
                files.push(file.clone());
                files.len() as u32 - 1
            });
            if mine.last().is_none_or(|&(_, i, l)| (i, l) != (index, *line)) {
                mine.push((*addr, index, *line));
            }
        }
        let rows_at = lines.len() as u32;
        encode_rows(&mut lines, f.start, &mine);
        records.push([(f.start - base) as u32, f.size as u32, strings.add(&f.name), rows_at]);
    }
    let file_names: Vec<u32> = files.iter().map(|f| strings.add(f)).collect();
    let labs = lab_ranges(root, &file_index);
    if std::env::var_os("MOSAIC_SYMTAB_STATS").is_some() {
        eprintln!(
            "STATS funcs {} files {} labs {} strings {} lines {} rows {}",
            records.len(),
            file_names.len(),
            labs.len(),
            strings.bytes.len(),
            lines.len(),
            rows.len()
        );
    }
    Ok(assemble(base, table_addr, &records, &file_names, &labs, &strings.bytes, &lines))
}

/// Lays out the header and the arrays (see kernel/src/oops/symbols.rs).
fn assemble(
    base: u64,
    table_addr: u64,
    functions: &[[u32; 4]],
    files: &[u32],
    labs: &[[u32; 4]],
    strings: &[u8],
    lines: &[u8],
) -> Vec<u8> {
    let funcs_at = HEADER;
    let files_at = funcs_at + functions.len() * 16;
    let labs_at = files_at + files.len() * 4;
    let strings_at = labs_at + labs.len() * 16;
    let lines_at = strings_at + strings.len();
    let mut t = Vec::with_capacity(lines_at + lines.len());
    t.extend_from_slice(MAGIC);
    t.extend_from_slice(&base.to_le_bytes());
    let counts = [functions.len(), funcs_at, files.len(), files_at, labs.len(), labs_at, strings_at, lines_at];
    for v in counts {
        t.extend_from_slice(&(v as u32).to_le_bytes());
    }
    t.extend_from_slice(&table_addr.to_le_bytes());
    for v in functions.iter().flatten().chain(files).chain(labs.iter().flatten()) {
        t.extend_from_slice(&v.to_le_bytes());
    }
    t.extend_from_slice(strings);
    t.extend_from_slice(lines);
    t
}

/// The function symbols by address, one per address, with short names
/// (also the functions `cargo xtask bench --part profile` counts in).
pub fn functions(elf: &object::File) -> Vec<Function> {
    let mut functions: Vec<Function> = elf
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| Some(Function { start: s.address(), size: s.size(), name: short_name(s.name().ok()?) }))
        .collect();
    functions.sort_by_key(|f| (f.start, std::cmp::Reverse(f.size)));
    functions.dedup_by_key(|f| f.start);
    functions
}

/// A demangled name without hashes, generic arguments (`::<..>`),
/// `mosaic_kernel::`, and with the types inside `<..>` named by their last
/// segment: `<core::slice::iter::Iter<x86_64::..::PhysFrame> as
/// core::iter::traits::iterator::Iterator>::next` becomes `<Iter<PhysFrame>
/// as Iterator>::next`. The function's own path stays whole.
fn short_name(mangled: &str) -> String {
    let full = format!("{:#}", rustc_demangle::demangle(mangled));
    let name = inherent_as_path(&without_generic_args(&full));
    let mut name = last_segments_inside(&name).replace("mosaic_kernel::", "");
    if name.len() > MAX_NAME {
        name.truncate(char_boundary(&name, MAX_NAME));
        name.push_str("...");
    }
    name
}

/// `name` without its `::<...>` parts (balanced, nesting included).
fn without_generic_args(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut depth = 0usize;
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if depth == 0 && rest.starts_with("::<") {
            depth = 1;
            rest = &rest[3..];
            continue;
        }
        if depth > 0 {
            match c {
                '<' => depth += 1,
                '>' => depth -= 1,
                _ => {}
            }
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// A method of an inherent impl, `<a::b::Zone>::free`, written as the path
/// it is (`a::b::Zone::free`), so that it keeps its module.
fn inherent_as_path(name: &str) -> String {
    let inner = name.strip_prefix('<').and_then(|r| r.split_once(">::"));
    match inner {
        Some((path, rest)) if path.chars().all(|c| c.is_alphanumeric() || c == '_' || c == ':') => {
            format!("{path}::{rest}")
        }
        _ => name.to_string(),
    }
}

/// `name` with every path inside angle brackets cut to its last segment.
fn last_segments_inside(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let (mut depth, mut word) = (0usize, String::new());
    let mut chars = name.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        // A path segment inside brackets, followed by `::` and another
        // segment: dropped.
        let next_is_segment = name[i..]
            .strip_prefix("::")
            .and_then(|r| r.chars().next())
            .is_some_and(|n| n.is_alphanumeric() || n == '_');
        if depth > 0 && !word.is_empty() && next_is_segment {
            word.clear();
            chars.next();
            continue;
        }
        out.push_str(&word);
        word.clear();
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            _ => {}
        }
        out.push(c);
    }
    out.push_str(&word);
    out
}

/// The largest char boundary of `s` at or below `at`.
fn char_boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len())).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// Every line-table row of the kernel: (address, short file, line), by
/// address.
fn line_rows(elf: &object::File) -> Result<Vec<(u64, String, u32)>> {
    let load = |id: gimli::SectionId| -> Result<std::borrow::Cow<[u8]>, gimli::Error> {
        Ok(elf.section_by_name(id.name()).and_then(|s| s.uncompressed_data().ok()).unwrap_or_default())
    };
    let sections = gimli::DwarfSections::load(load)?;
    let dwarf = sections.borrow(|s| gimli::EndianSlice::new(s, gimli::RunTimeEndian::Little));
    let context = addr2line::Context::from_dwarf(dwarf).context("reading the kernel's DWARF")?;
    let mut rows = Vec::new();
    for (addr, _, _) in context.find_location_range(0, u64::MAX).context("reading the line tables")? {
        if let Some((file, line)) = outermost(&context, addr)? {
            rows.push((addr, short_file(file), line));
        }
    }
    rows.sort_by_key(|r| r.0);
    Ok(rows)
}

/// The line of `addr` in the function the symbol names: for code inlined
/// into it (`read_volatile` in a test), the line of the inlined call, which
/// is what a student looks for, rather than a line of `core`.
fn outermost<'a>(
    context: &'a addr2line::Context<gimli::EndianSlice<'a, gimli::RunTimeEndian>>,
    addr: u64,
) -> Result<Option<(&'a str, u32)>> {
    let mut frames = context.find_frames(addr).skip_all_loads()?;
    let mut last = None;
    while let Some(frame) = frames.next()? {
        if let Some(addr2line::Location { file: Some(file), line: Some(line), .. }) = frame.location {
            last = Some((file, line));
        }
    }
    Ok(last)
}

/// A source path as the oops prints it: relative to the tree for the
/// kernel, `core/src/...` for the standard library, `crate-1.2.3/src/...`
/// for a dependency.
fn short_file(path: &str) -> String {
    let root = crate::root();
    if let Ok(rel) = Path::new(path).strip_prefix(&root) {
        return rel.display().to_string();
    }
    if let Some((_, rest)) = path.split_once("/library/") {
        return rest.to_string();
    }
    if let Some((_, rest)) = path.split_once("/registry/src/") {
        return rest.split_once('/').map_or(rest, |(_, r)| r).to_string();
    }
    path.to_string()
}

/// The LAB regions of the kernel's sources whose file the table names:
/// [file index, lab, first line, last line].
fn lab_ranges(root: &Path, files: &HashMap<String, u32>) -> Vec<[u32; 4]> {
    let mut ranges = Vec::new();
    for (name, &index) in files.iter().filter(|(n, _)| n.starts_with("kernel/src/")) {
        let Ok(text) = std::fs::read_to_string(root.join(name)) else { continue };
        for (lab, first, last) in markers::line_ranges(&text) {
            ranges.push([index, lab, first as u32, last as u32]);
        }
    }
    ranges.sort_unstable();
    ranges
}

/// Appends a function's rows: a count, then per row the address delta
/// (shifted, the low bit saying the file changed), the file if it did,
/// and the zigzag line delta.
fn encode_rows(out: &mut Vec<u8>, start: u64, rows: &[(u64, u32, u32)]) {
    varint(out, rows.len() as u64);
    let (mut addr, mut file, mut line) = (start, u32::MAX, 0i64);
    for &(a, f, l) in rows {
        let changed = f != file;
        varint(out, ((a - addr) << 1) | u64::from(changed));
        if changed {
            varint(out, u64::from(f));
        }
        let delta = i64::from(l) - line;
        varint(out, ((delta << 1) ^ (delta >> 63)) as u64);
        (addr, file, line) = (a, f, i64::from(l));
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Length-prefixed strings, each stored once.
#[derive(Default)]
struct Strings {
    bytes: Vec<u8>,
    seen: HashMap<String, u32>,
}

impl Strings {
    fn add(&mut self, s: &str) -> u32 {
        if let Some(&at) = self.seen.get(s) {
            return at;
        }
        let at = self.bytes.len() as u32;
        let s = &s[..char_boundary(s, 255)];
        self.bytes.push(s.len() as u8);
        self.bytes.extend_from_slice(s.as_bytes());
        self.seen.insert(s.to_string(), at);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_delta_encoded() {
        let mut out = Vec::new();
        encode_rows(&mut out, 0x1000, &[(0x1000, 0, 10), (0x1020, 0, 11), (0x1030, 1, 9)]);
        assert_eq!(out, [3, 0b1, 0, 20, 0x40, 2, 0x21, 1, 3]);
    }

    #[test]
    fn names_lose_hash_and_crate() {
        assert_eq!(short_name("_ZN13mosaic_kernel2mm4zone4free17h0123456789abcdefE"), "mm::zone::free");
        assert_eq!(without_generic_args("<bool>::then::<usize, a::<b>::{closure#0}>"), "<bool>::then");
        assert_eq!(last_segments_inside("<a::b::C<d::E> as f::G>::h::i"), "<C<E> as G>::h::i");
        assert_eq!(inherent_as_path("<a::b::Zone>::free"), "a::b::Zone::free");
        assert_eq!(inherent_as_path("<[a::Page]>::get"), "<[a::Page]>::get");
        assert_eq!(
            without_generic_args("<a::B<u8> as c::D>::f::<T>::{closure#0}"),
            "<a::B<u8> as c::D>::f::{closure#0}"
        );
        assert_eq!(short_file("/rustc/abc/library/core/src/panicking.rs"), "core/src/panicking.rs");
    }
}
