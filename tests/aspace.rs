//! Address spaces and the three PGD-sync strategies through the shell, and
//! the demonstration transcript in docs/lazy-pgd.md replayed line by line.

use mosaic_tests::*;
use regex::Regex;

fn vmstat(s: &mut Session, name: &str) -> anyhow::Result<u64> {
    let lines = s.command("vmstat")?;
    let line = lines.iter().find(|l| l.starts_with(&format!("{name} "))).ok_or_else(|| anyhow::anyhow!("{lines:?}"))?;
    Ok(line.rsplit(' ').next().unwrap().parse()?)
}

/// Creates an address space, switches to it, touches two pages of an
/// area twice each, and returns the vmalloc faults that took.
fn touch_scenario(s: &mut Session, strategy: &str) -> anyhow::Result<u64> {
    s.command_expect(&format!("pgd_sync {strategy}"), &format!("^pgd_sync: {strategy}$"))?;
    let line = s.command_expect("vmalloc 8K", r"^0x[0-9a-f]+ \(2 pages")?;
    let addr = u64::from_str_radix(line.split_whitespace().next().unwrap().trim_start_matches("0x"), 16)?;
    let id = s.command_expect("as new", r"^address space \d+ ")?;
    let id: u64 = id.split_whitespace().nth(2).unwrap().parse()?;
    s.command_expect(&format!("as switch {id}"), "^switched")?;
    let before = vmstat(s, "vmalloc_faults")?;
    for a in [addr, addr + 4096, addr, addr + 4096] {
        s.command_expect(&format!("touch {a:#x}"), &format!("^{a:#x}: 0x[0-9a-f]{{2}}"))?;
    }
    let taken = vmstat(s, "vmalloc_faults")? - before;
    s.command_expect("as switch 0", "^switched")?;
    s.command_expect(&format!("as destroy {id}"), "^destroyed")?;
    s.command_expect(&format!("vfree {addr:#x}"), "^freed")?;
    Ok(taken)
}

#[test]
fn lazy_faults_once_eager_and_prealloc_never() -> anyhow::Result<()> {
    let mut s = shell("pgd-sync")?;
    assert_eq!(touch_scenario(&mut s, "lazy")?, 1, "lazy: one fault for the one top-level entry");
    assert_eq!(touch_scenario(&mut s, "eager")?, 0);
    assert_eq!(touch_scenario(&mut s, "prealloc")?, 0);
    assert_eq!(vmstat(&mut s, "pgd_prealloc_pages")?, 63, "64 entries, one of them already there");
    let list = s.command("as list")?;
    assert_eq!(list.len(), 2, "only the master is left: {list:?}");
    assert!(list[1].contains("64") && list[1].ends_with('*'), "{list:?}");
    Ok(())
}

#[test]
fn bad_address_space_input() -> anyhow::Result<()> {
    let mut s = shell("as-bad")?;
    for line in [
        "as",
        "as frobnicate",
        "as new 3",
        "as list all",
        "as switch",
        "as switch 7",
        "as switch -1",
        "as switch x",
        "as switch 99999999999999999999",
        "as destroy 0",
        "as destroy 42",
        "pgd_sync sometimes",
        "pgd_sync lazy eager",
        "vmstat now",
        "touch",
        "touch 0xffffc90000000000",
        "touch 0x0000800000000000",
        "touch 0xffffffffffffffffff",
    ] {
        expect_error(&mut s, line)?;
    }
    s.command_expect("as new", "^address space 1 ")?;
    s.command_expect("as switch 1", "^switched")?;
    let refused = expect_error(&mut s, "as destroy 1")?;
    assert!(refused.contains("current"), "{refused}");
    Ok(())
}

/// Turns a transcript line into a pattern: physical addresses (hex numbers
/// outside the kernel half) may differ, everything else must match.
fn pattern(line: &str) -> Regex {
    let hex = Regex::new("0x[0-9a-f]+").unwrap();
    let mut out = String::from("^");
    let mut last = 0;
    for m in hex.find_iter(line) {
        out += &regex::escape(&line[last..m.start()]);
        out += if m.as_str().starts_with("0xffff") { m.as_str() } else { "0x[0-9a-f]+" };
        last = m.end();
    }
    out += &regex::escape(&line[last..]);
    out.push('$');
    Regex::new(&out).unwrap()
}

#[test]
fn the_documented_demonstration_is_true() -> anyhow::Result<()> {
    let doc = std::fs::read_to_string(xtask::root().join("docs/lazy-pgd.md"))?;
    let start = doc.find("```text\nmosaic> pgd_sync").expect("transcript in docs/lazy-pgd.md");
    let block = &doc[start + 8..];
    let block = &block[..block.find("```").unwrap()];
    let mut s = shell("lazy-pgd-demo")?;
    let mut lines = block.lines().peekable();
    while let Some(line) = lines.next() {
        let command = line.strip_prefix("mosaic> ").expect("transcript starts each step with a prompt");
        let mut expected = Vec::new();
        while let Some(next) = lines.peek().filter(|l| !l.starts_with("mosaic> ")) {
            expected.push(*next);
            lines.next();
        }
        let got = s.command(command)?;
        assert_eq!(got.len(), expected.len(), "`{command}`: {got:?} vs {expected:?}");
        // Column padding depends on the width of the addresses: compare
        // with runs of spaces collapsed.
        let squeeze = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
        for (g, e) in got.iter().zip(&expected) {
            assert!(pattern(&squeeze(e)).is_match(&squeeze(g)), "`{command}`: got {g:?}, the docs say {e:?}");
        }
    }
    Ok(())
}

/// `pgd_bench` puts back the strategy it found and, under fault injection
/// at each of its ~420 allocations (every one is tried, the strategy
/// taking turns: about 0.3 s each, two and a half minutes in all), frees
/// every address space, area and heap object it made. Before,
/// `pgd_bench prealloc` left the strategy `lazy`, and a failure at
/// allocation 100 to 350 left up to 35 address spaces and 13 areas behind.
#[test]
fn pgd_bench_cleans_up_under_fault_injection() -> anyhow::Result<()> {
    let mut s = shell("pgd-bench-inject")?;
    s.timeout = std::time::Duration::from_secs(120);
    s.command_expect("pgd_sync eager", "^pgd_sync: eager$")?;
    let out = s.command("pgd_bench prealloc")?;
    assert!(out.len() == 6 && out.iter().all(|l| l.starts_with("pgd_bench prealloc ")), "{out:?}");
    s.command_expect("pgd_sync", "^pgd_sync: eager$")?;
    let before = accounted_kb(&mut s)?;
    let objects = heap_objects(&mut s)?;
    for n in 1..=440 {
        let strategy = ["lazy", "eager", "prealloc"][n % 3];
        s.command_expect(&format!("fail_page_alloc {n}"), "^fail_page_alloc: allocation")?;
        let out = s.command(&format!("pgd_bench {strategy}"))?;
        s.command_expect("fail_page_alloc off", "^fail_page_alloc: off")?;
        let (last, rest) = out.split_last().expect("pgd_bench says something");
        assert!(rest.iter().all(|l| l.starts_with("pgd_bench ")), "N={n}: {out:?}");
        assert!(last.starts_with("pgd_bench ") || last == "error: out of memory", "N={n}: {out:?}");
        assert_eq!(s.command("as list")?.len(), 2, "N={n} {strategy}: address spaces left behind");
        assert_eq!(s.command("vmallocinfo")?, Vec::<String>::new(), "N={n} {strategy}: areas left behind");
        assert_eq!(accounted_kb(&mut s)?, before, "N={n} {strategy}: pages left behind");
        assert_eq!(heap_objects(&mut s)?, objects, "N={n} {strategy}: heap objects left behind");
        s.command_expect("pgd_sync", "^pgd_sync: eager$")?;
    }
    // Most runs reached their failure (a few ended cleanly before it).
    let line = s.command_expect("fail_page_alloc", "^fail_page_alloc: off")?;
    let injected: u64 = line.rsplit(' ').next().unwrap().trim_end_matches(')').parse()?;
    assert!(injected >= 400, "{line}");
    Ok(())
}
