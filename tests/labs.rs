//! Exported lab skeletons boot to the shell: `lab export` (the lab and the
//! later ones stubbed, or `--only` the lab), then the skeleton's own
//! `cargo xtask run` with a script. A stubbed function answers with its
//! name and handout instead of stopping the kernel.
//!
//! Each test builds a kernel for its tree: four trees only, to bound the
//! time. They take turns in one directory, target/labs-tests/tree, built
//! in target/labs-tests, so only the first run on a machine builds the
//! kernel's dependencies. One path for both trees, as the grader's
//! selftest does: cargo records a tree's sources by path, and a second
//! tree elsewhere would be taken for the first one, already built.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The xtask binary (set by `cargo xtask test`, else the one in target/).
fn xtask() -> PathBuf {
    std::env::var_os("MOSAIC_XTASK")
        .map(PathBuf::from)
        .unwrap_or_else(|| xtask::target_dir().join("debug").join("xtask"))
}

/// Where the skeletons are built: their target directory, and the tree.
fn labs_tests() -> PathBuf {
    xtask::target_dir().join("labs-tests")
}

/// Held by the test whose skeleton is in the tree directory.
static TREE: Mutex<()> = Mutex::new(());

/// The tree directory, emptied, and this test's turn with it. A test that
/// failed while holding the lock poisons it; the next may still run.
fn tree() -> (PathBuf, MutexGuard<'static, ()>) {
    let turn = TREE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = labs_tests().join("tree");
    let _ = std::fs::remove_dir_all(&dir);
    (dir, turn)
}

/// `cargo xtask lab export <args> <dir>` from this tree; its output.
fn export(args: &[&str], dir: &Path) -> String {
    let out = Command::new(xtask()).args(["lab", "export"]).args(args).arg(dir).output().expect("cannot start xtask");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "lab export failed:\n{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// The skeleton's own `cargo xtask run` on `script`: its exit code and
/// output. Killed (and the test failed) if it has not ended after 20
/// minutes, which a cold build on a busy machine stays well under.
fn run_in(dir: &Path, script: &str) -> (Option<i32>, String) {
    let mut child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(dir)
        .args(["xtask", "run"])
        .env("CARGO_TARGET_DIR", labs_tests())
        .env_remove("MOSAIC_XTASK")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot start cargo");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let pid = child.id().to_string();
    let (done, waiting) = std::sync::mpsc::channel::<()>();
    let killer = std::thread::spawn(move || {
        let killed = waiting.recv_timeout(Duration::from_secs(20 * 60)).is_err();
        if killed {
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
        killed
    });
    let out = child.wait_with_output().unwrap();
    let _ = done.send(());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!killer.join().unwrap(), "the skeleton's xtask run was killed after 20 minutes:\n{text}");
    (out.status.code(), text)
}

/// The line that follows the prompt's echo of `command`.
fn answer<'a>(out: &'a str, command: &str) -> &'a str {
    let echo = format!("mosaic> {command}\n");
    let at = out.find(&echo).unwrap_or_else(|| panic!("no `{command}` in:\n{out}")) + echo.len();
    out[at..].lines().next().unwrap_or("")
}

/// The default export of lab 1 stubs every lab. Its kernel runs on the boot
/// allocator and says so once; lab 1's and lab 2's commands name the
/// missing function and its handout, and nothing panics.
#[test]
fn a_lab1_skeleton_boots_and_names_what_is_missing() {
    let (tree, _turn) = tree();
    let listed = export(&["1"], &tree);
    assert!(listed.contains("stubbed lab 4 "), "the later labs are stubbed too:\n{listed}");
    let script = "help\nbuddyinfo\nalloc_pages 0\nvmalloc 4096\nmeminfo\nshutdown\n";
    let (code, out) = run_in(&tree, script);
    assert_eq!(code, Some(0), "the run did not end with shutdown:\n{out}");
    let boot_line = "lab 1: Zone::alloc is not written yet; the kernel runs on the boot allocator; \
                     see docs/labs/lab1-buddy.md";
    assert_eq!(out.matches(boot_line).count(), 1, "said once at boot:\n{out}");
    assert!(out.contains("mosaic> help\nhelp [command]"), "{out}");
    let missing = "error: lab 1: Zone::alloc is not written yet (docs/labs/lab1-buddy.md)";
    assert!(answer(&out, "buddyinfo").starts_with(missing), "{out}");
    assert_eq!(answer(&out, "alloc_pages 0"), missing, "{out}");
    assert_eq!(
        answer(&out, "vmalloc 4096"),
        "error: lab 2: get_vm_area is not written yet (docs/labs/lab2-vmalloc.md)"
    );
    assert!(answer(&out, "meminfo").starts_with("MemTotal:"), "the kernel runs on the boot allocator:\n{out}");
    assert!(!out.contains("panicked"), "{out}");
}

/// `--only` stubs lab 2 alone: the buddy allocator is the kernel's again,
/// and vmalloc, vfree and lab 4's vmap (which needs lab 2's get_vm_area)
/// answer that lab 2 is missing.
#[test]
fn a_lab2_only_skeleton_boots_on_the_buddy_allocator() {
    let (tree, _turn) = tree();
    let listed = export(&["2", "--only"], &tree);
    assert!(!listed.contains("stubbed lab 4 ") && listed.contains("stubbed lab 2 "), "{listed}");
    let script = "buddyinfo\nvmalloc 4096\nvfree 0xffffc90000000000\nvmap 2\nshutdown\n";
    let (code, out) = run_in(&tree, script);
    assert_eq!(code, Some(0), "the run did not end with shutdown:\n{out}");
    assert!(!out.contains("boot allocator"), "{out}");
    assert!(answer(&out, "buddyinfo").starts_with("Node 0, zone      DMA"), "{out}");
    let handout = "(docs/labs/lab2-vmalloc.md)";
    assert_eq!(answer(&out, "vmalloc 4096"), format!("error: lab 2: get_vm_area is not written yet {handout}"));
    let vfree = answer(&out, "vfree 0xffffc90000000000");
    assert_eq!(vfree, format!("error: lab 2: vfree is not written yet {handout}"));
    assert_eq!(answer(&out, "vmap 2"), format!("error: lab 2: get_vm_area is not written yet {handout}"));
    assert!(!out.contains("panicked"), "{out}");
}

/// The `MemFree:` line of the `meminfo` that is the `nth` (from 0) in `out`.
fn mem_free(out: &str, nth: usize) -> &str {
    out.split("mosaic> meminfo\n")
        .nth(nth + 1)
        .and_then(|after| after.lines().find(|l| l.starts_with("MemFree:")))
        .unwrap_or_else(|| panic!("no meminfo number {nth} with a MemFree line in:\n{out}"))
}

/// Lab 4's skeleton: the shell's `vmap` allocates the pages, the stubbed
/// `__vmap` fails, and the pages must come back to the shell, which frees
/// them: free memory is the same before and after, even when tried twice.
#[test]
fn a_lab4_skeleton_vmap_gives_the_pages_back() {
    let (tree, _turn) = tree();
    let listed = export(&["4"], &tree);
    assert!(listed.contains("stubbed lab 4 ") && !listed.contains("stubbed lab 2 "), "{listed}");
    let script = "meminfo\nvmap 64\nvmap 64\nmeminfo\nshutdown\n";
    let (code, out) = run_in(&tree, script);
    assert_eq!(code, Some(0), "the run did not end with shutdown:\n{out}");
    let missing = "error: lab 4: __vmap is not written yet (docs/labs/lab4-vmap-ioremap.md)";
    assert_eq!(answer(&out, "vmap 64"), missing, "{out}");
    assert_eq!(mem_free(&out, 1), mem_free(&out, 0), "the failed vmaps kept pages:\n{out}");
    assert!(!out.contains("panicked"), "{out}");
}

/// Every line the shell printed for `command`, up to the next prompt.
fn answer_lines<'a>(out: &'a str, command: &str) -> Vec<&'a str> {
    let echo = format!("mosaic> {command}\n");
    let at = out.find(&echo).unwrap_or_else(|| panic!("no `{command}` in:\n{out}")) + echo.len();
    out[at..].lines().take_while(|l| !l.starts_with("mosaic> ")).collect()
}

/// Lab 5's skeleton: eager frees never reach its stubs, and under `vfree
/// lazy` a free that reaches the stubbed `free_noflush` frees eagerly and
/// names it; switching back to eager purges an empty list without asking
/// the stubbed `purge`.
#[test]
fn a_lab5_skeleton_frees_eagerly_and_names_the_lazy_free() {
    let (tree, _turn) = tree();
    let listed = export(&["5"], &tree);
    assert!(listed.contains("stubbed lab 5 ") && !listed.contains("stubbed lab 4 "), "{listed}");
    let script = "vmalloc 4096\nvfree 0xffffc90000000000\nvfree lazy 16\nvmalloc 8192\n\
                  vfree 0xffffc90000000000\nvmallocinfo\nvfree eager\nshutdown\n";
    let (code, out) = run_in(&tree, script);
    assert_eq!(code, Some(0), "the run did not end with shutdown:\n{out}");
    let eager = answer_lines(&out, "vfree 0xffffc90000000000");
    assert_eq!(eager, ["freed 0xffffc90000000000 (1 pages mapped, plus 1 guard page)"], "eager: no stub\n{out}");
    assert!(answer(&out, "vfree lazy 16").starts_with("vfree: lazy (lazy_max_pages 16, 0 pages"), "{out}");
    let lazy: Vec<&str> =
        out.split("mosaic> vfree 0xffffc90000000000\n").nth(2).unwrap_or("").lines().take(2).collect();
    assert_eq!(
        lazy.get(1).copied(),
        Some("error: lab 5: free_noflush is not written yet (docs/labs/lab5-lazy-purge.md)"),
        "{out}"
    );
    assert!(answer_lines(&out, "vmallocinfo").is_empty(), "the stub's free was eager:\n{out}");
    assert!(answer(&out, "vfree eager").starts_with("vfree: eager"), "{out}");
    assert!(!out.contains("panicked"), "{out}");
}
