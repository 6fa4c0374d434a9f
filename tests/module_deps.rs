//! The kernel's dependencies run one way: this test reads every `.rs`
//! file under kernel/src, finds which modules each one names (`crate::...`,
//! `super::...`, `use` groups), and fails on an import cycle between
//! modules, printing the cycle. It also checks the rules written at the top
//! of mm/mod.rs: nothing in mm names shell, ktest, ktests, bench or boot.
//!
//! A module is a file (`mm/vmalloc.rs` is `mm::vmalloc`, `mm/mod.rs` is
//! `mm`). A file naming an item of one of its ancestors (`super::with_pages`
//! in mm/vmalloc.rs) is using its parent's interface, not a dependency
//! between peers, and does not count; the parent naming its child does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// kernel/src of this tree, or of the tree in MOSAIC_KERNEL_SRC (to try the
/// check on another checkout).
fn kernel_src() -> PathBuf {
    std::env::var_os("MOSAIC_KERNEL_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/src"))
}

/// Every module file, by module path (the crate root is the empty path).
fn modules(dir: &Path, prefix: &Module, out: &mut BTreeMap<Module, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut p = prefix.clone();
            p.push(name);
            modules(&path, &p, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut p = prefix.clone();
            if !matches!(name.as_str(), "mod" | "lib" | "main") {
                p.push(name);
            }
            out.insert(p, strip_comments(&std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The source without `//` comments and string literals' contents, so that
/// a path in prose or in a message is not taken for a dependency.
fn strip_comments(src: &str) -> String {
    let mut out = String::new();
    for line in src.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            if !in_str && c == '/' && chars.peek() == Some(&'/') {
                break;
            }
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = if prev == '\\' && c == '\\' { ' ' } else { c };
        }
        out.push('\n');
    }
    out
}

/// The paths a file names, each with the number of levels it climbs
/// first: `crate::a` climbs to the root (None), `self::a` 0 levels,
/// `super::a` 1, `super::super::a` 2. Use groups are expanded however
/// deeply they nest: `crate::{a, b::{c, d}}` names `a`, `b::c` and `b::d`.
fn named_paths(src: &str) -> Vec<(Option<usize>, Vec<String>)> {
    let re = regex::Regex::new(r"\b(crate|self|super)((?:::super)*)((?:::\w+)*)").unwrap();
    let mut out = Vec::new();
    for cap in re.captures_iter(src) {
        let up = match &cap[1] {
            "crate" => None,
            "self" => Some(0),
            _ => Some(1 + cap[2].matches("super").count()),
        };
        let base: Vec<String> = cap[3].split("::").filter(|s| !s.is_empty()).map(String::from).collect();
        let rest = &src[cap.get(0).unwrap().end()..];
        match rest.strip_prefix("::{").and_then(|r| group_body(r)) {
            Some(body) => {
                for item in use_tree_paths(body) {
                    let mut p = base.clone();
                    p.extend(item);
                    out.push((up, p));
                }
            }
            None => out.push((up, base)),
        }
    }
    out
}

/// The text of a `{ ... }` group up to its matching brace (`text` starts
/// just after the opening one).
fn group_body(text: &str) -> Option<&str> {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(&text[..i]);
                }
            }
            _ => {}
        }
    }
    None
}

/// The paths of a use group's body (`a, b::{c, d}, e as f, self`).
fn use_tree_paths(body: &str) -> Vec<Vec<String>> {
    let mut items = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&body[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    items.push(&body[from..]);
    let mut out = Vec::new();
    for item in items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let words = |s: &str| -> Vec<String> {
            s.split("::").map(|w| w.trim().to_string()).filter(|w| !w.is_empty() && w != "self" && w != "*").collect()
        };
        match item.find("::{") {
            Some(at) => {
                let prefix = words(&item[..at]);
                for sub in use_tree_paths(group_body(&item[at + 3..]).unwrap_or("")) {
                    let mut p = prefix.clone();
                    p.extend(sub);
                    out.push(p);
                }
            }
            None => out.push(words(item.split(" as ").next().unwrap_or(item))),
        }
    }
    out
}

/// The module a path leads into: its longest prefix that is a module.
fn resolve(all: &BTreeMap<Module, String>, path: &[String]) -> Module {
    (0..=path.len()).rev().map(|n| path[..n].to_vec()).find(|p| all.contains_key(p)).unwrap_or_default()
}

fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let mut all = BTreeMap::new();
    modules(&kernel_src(), &Vec::new(), &mut all);
    let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, src) in &all {
        let targets = edges.entry(module.clone()).or_default();
        for (up, path) in named_paths(src) {
            let mut full = match up {
                None => Vec::new(),
                Some(n) => module[..module.len().saturating_sub(n)].to_vec(),
            };
            full.extend(path);
            let target = resolve(&all, &full);
            let is_ancestor = target.len() < module.len() && module.starts_with(&target);
            if &target != module && !is_ancestor {
                targets.insert(target);
            }
        }
    }
    edges
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

/// A cycle through the graph, if there is one (depth-first search).
fn find_cycle(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        m: &Module,
        edges: &BTreeMap<Module, BTreeSet<Module>>,
        state: &mut BTreeMap<Module, u8>,
        stack: &mut Vec<Module>,
    ) -> Option<Vec<Module>> {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for next in edges.get(m).into_iter().flatten() {
            match state.get(next).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == next).unwrap();
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(m, edges, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn kernel_modules_have_no_import_cycle() {
    let edges = graph();
    assert!(edges.len() > 40, "found only {} modules under {}", edges.len(), kernel_src().display());
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<String> = cycle.iter().map(name).collect();
        panic!("import cycle between kernel modules: {}", names.join(" -> "));
    }
}

#[test]
fn mm_imports_nothing_above_it() {
    let forbidden = ["shell", "ktest", "ktests", "bench", "boot", "boot_info"];
    let mut bad = Vec::new();
    for (module, targets) in graph() {
        if module.first().map(String::as_str) != Some("mm") {
            continue;
        }
        for t in targets {
            if t.first().is_some_and(|top| forbidden.contains(&top.as_str())) {
                bad.push(format!("{} -> {}", name(&module), name(&t)));
            }
        }
    }
    assert!(bad.is_empty(), "mm names modules above it: {}", bad.join(", "));
}

/// The checker itself finds a cycle and a rule break when there is one.
#[test]
fn the_checker_sees_a_cycle() {
    let m = |s: &str| s.split("::").map(String::from).collect::<Module>();
    let mut edges = BTreeMap::new();
    edges.insert(m("mm::aspace"), BTreeSet::from([m("mm::pgtable")]));
    edges.insert(m("mm::pgtable"), BTreeSet::from([m("mm::layout")]));
    edges.insert(m("mm::layout"), BTreeSet::new());
    assert_eq!(find_cycle(&edges), None);
    edges.get_mut(&m("mm::pgtable")).unwrap().insert(m("mm::aspace"));
    assert!(find_cycle(&edges).is_some());
    let paths = named_paths(&strip_comments(
        "use super::{aspace::on_new, layout};\nlet x = crate::mm::pgtable::walk(); // crate::shell\nf(\"crate::bench\");\n",
    ));
    let v = |s: &str| s.split("::").map(String::from).collect::<Vec<String>>();
    assert_eq!(paths, vec![(Some(1), v("aspace::on_new")), (Some(1), v("layout")), (None, v("mm::pgtable::walk"))]);
    // Paths that climb more than one level, self, and nested groups.
    let deep = named_paths(
        "use super::super::page::{pfn, x::{y, z as w}};\nuse self::inner::f;\nuse crate::{a::{b, c}, d};\n",
    );
    assert_eq!(
        deep,
        vec![
            (Some(2), v("page::pfn")),
            (Some(2), v("page::x::y")),
            (Some(2), v("page::x::z")),
            (Some(0), v("inner::f")),
            (None, v("a::b")),
            (None, v("a::c")),
            (None, v("d")),
        ]
    );
}
