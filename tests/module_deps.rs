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

/// The paths a file names, each as written after `crate::` or `super::`
/// (use groups expanded one level: `crate::{a, b::c}` names `a` and `b::c`).
fn named_paths(src: &str) -> Vec<(bool, Vec<String>)> {
    let re = regex::Regex::new(r"\b(crate|super)((?:::\w+)*)(::\{([^}]*)\})?").unwrap();
    let mut out = Vec::new();
    for cap in re.captures_iter(src) {
        let from_super = &cap[1] == "super";
        let base: Vec<String> = cap[2].split("::").filter(|s| !s.is_empty()).map(String::from).collect();
        match cap.get(4) {
            Some(group) => {
                for item in group.as_str().split(',') {
                    let mut p = base.clone();
                    p.extend(item.split("::").map(|s| s.trim().to_string()).filter(|s| !s.is_empty() && s != "self"));
                    out.push((from_super, p));
                }
            }
            None => out.push((from_super, base)),
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
        for (from_super, path) in named_paths(src) {
            let mut full = if from_super {
                let parent = &module[..module.len().saturating_sub(1)];
                parent.to_vec()
            } else {
                Vec::new()
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
    assert_eq!(
        paths,
        vec![
            (true, vec!["aspace".to_string(), "on_new".to_string()]),
            (true, vec!["layout".to_string()]),
            (false, vec!["mm".to_string(), "pgtable".to_string(), "walk".to_string()]),
        ]
    );
}
