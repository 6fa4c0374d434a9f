//! The vmalloc family through the shell: vmalloc/vfree, vmap/vunmap,
//! ioremap/iounmap, vmallocinfo, pt, peek and poke, and their bad inputs.

use mosaic_tests::*;
use regex::Regex;

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex number")
}

/// The address at the start of a command's answer.
fn first_addr(line: &str) -> u64 {
    hex(line.split_whitespace().next().unwrap())
}

fn meminfo(s: &mut Session) -> anyhow::Result<Vec<(String, u64)>> {
    let re = Regex::new(r"^(\w+): +(\d+) kB$")?;
    Ok(s.command("meminfo")?
        .iter()
        .filter_map(|l| re.captures(l))
        .map(|c| (c[1].to_string(), c[2].parse().unwrap()))
        .collect())
}

fn field(info: &[(String, u64)], name: &str) -> u64 {
    info.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no {name} in {info:?}")).1
}

#[test]
fn vmalloc_20000_is_five_pages_plus_a_guard() -> anyhow::Result<()> {
    let mut s = shell("vmalloc-20000")?;
    let line = s.command_expect(
        "vmalloc 20000",
        r"^0xffffc9[0-9a-f]{10} \(5 pages mapped, 20480 bytes, plus 1 guard page\)$",
    )?;
    let addr = first_addr(&line);
    let info = s.command("vmallocinfo")?;
    let re = Regex::new(&format!(r"^{addr:#x}-{:#x} +24576 \S+:\d+ pages=5 vmalloc$", addr + 24576))?;
    assert!(info.iter().any(|l| re.is_match(l)), "{info:?}");
    assert_eq!(field(&meminfo(&mut s)?, "VmallocUsed"), 20);
    // The memory is really there: write, read back, see the walk.
    s.command_expect(&format!("poke {:#x} 0xfeedface 32", addr + 0x4000), "^0x[0-9a-f]+: wrote 0xfeedface$")?;
    s.command_expect(&format!("peek {:#x} 32", addr + 0x4000), "^0x[0-9a-f]+: 0xfeedface$")?;
    let walk = s.command(&format!("pt {addr:#x}"))?;
    assert_eq!(walk.len(), 5, "{walk:?}");
    assert!(
        walk[0].starts_with("PGD[402]") && walk[3].starts_with("PTE[") && walk[3].ends_with("P W G NX"),
        "{walk:?}"
    );
    // The guard page is not mapped.
    let guard = s.command(&format!("pt {:#x}", addr + 0x5000))?;
    assert!(guard.last().unwrap().contains("not mapped: the PTE entry is not present"), "{guard:?}");
    expect_error(&mut s, &format!("peek {:#x}", addr + 0x5000))?;
    s.command_expect(&format!("vfree {addr:#x}"), r"^freed 0x[0-9a-f]+ \(5 pages mapped, plus 1 guard page\)$")?;
    assert!(s.command("vmallocinfo")?.is_empty());
    assert_eq!(field(&meminfo(&mut s)?, "VmallocUsed"), 0);
    Ok(())
}

#[test]
fn variants_vmap_and_ioremap() -> anyhow::Result<()> {
    let mut s = shell("vmalloc-family")?;
    let z = first_addr(&s.command_expect("vmalloc 8K zero", r"^0x[0-9a-f]+ \(2 pages")?);
    s.command_expect(&format!("peek {:#x}", z + 8), "^0x[0-9a-f]+: 0x0000000000000000$")?;
    let d = first_addr(&s.command_expect("vmalloc 3000 dma", r"^0x[0-9a-f]+ \(1 pages")?);
    let walk = s.command(&format!("pt {d:#x}"))?;
    let phys = hex(walk.last().unwrap().trim_start_matches("-> physical "));
    assert!(phys < 16 << 20, "vmalloc dma page at {phys:#x}");
    let t = first_addr(&s.command_expect("vmalloc 1M 32", r"^0x[0-9a-f]+ \(256 pages")?);
    let v = first_addr(&s.command_expect("vmap 4", r"^0x[0-9a-f]+ \(4 separate pages mapped together\)$")?);
    // The HPET's capabilities register: vendor 0x8086 in bits 31..16.
    let h = first_addr(&s.command_expect(
        "ioremap 0xfed00000 0x400",
        r"^0x[0-9a-f]+ \(1024 bytes of device memory at 0xfed00000, uncached\)$",
    )?);
    let caps = s.command_expect(&format!("peek {h:#x} 32"), "^0x[0-9a-f]+: 0x[0-9a-f]{8}$")?;
    assert_eq!(hex(caps.split_whitespace().nth(1).unwrap()) >> 16, 0x8086, "{caps}");
    let info = s.command("vmallocinfo")?;
    let kinds: Vec<&str> = info.iter().map(|l| l.rsplit(' ').next().unwrap()).collect();
    assert_eq!(kinds, ["vmalloc", "vmalloc", "vmalloc", "vmap", "ioremap"], "{info:?}");
    assert!(info[4].contains(" phys=0x00000000fed00000 ioremap"), "{info:?}");
    // Each kind must be undone by its own call.
    expect_error(&mut s, &format!("vfree {v:#x}"))?;
    expect_error(&mut s, &format!("vunmap {z:#x}"))?;
    expect_error(&mut s, &format!("iounmap {t:#x}"))?;
    s.command_expect(&format!("vunmap {v:#x}"), "^unmapped")?;
    s.command_expect(&format!("iounmap {h:#x}"), "^unmapped")?;
    for a in [z, d, t] {
        s.command_expect(&format!("vfree {a:#x}"), "^freed")?;
    }
    assert!(s.command("vmallocinfo")?.is_empty());
    Ok(())
}

#[test]
fn bad_vmalloc_input_changes_nothing() -> anyhow::Result<()> {
    let mut s = shell("vmalloc-bad")?;
    let a = first_addr(&s.command("vmalloc 3")?[0]);
    let before = (meminfo(&mut s)?, s.command("vmallocinfo")?);
    for line in [
        "vmalloc".to_string(),
        "vmalloc 0".into(),
        "vmalloc -5".into(),
        "vmalloc lots".into(),
        "vmalloc 100G".into(),
        "vmalloc 99999999999999999999".into(),
        "vmalloc 17179869183G".into(),
        "vmalloc 4K hug".into(),
        "vmalloc 100G huge".into(),
        format!("vfree {:#x}", a + 8),
        format!("vfree {:#x}", a + 0x1000),
        "vfree 0xffffc80000000000".into(),
        "vfree 0x0000900000000000".into(),
        "vfree zz".into(),
        "vunmap 0xffffc90100000000".into(),
        "vmap 0".into(),
        "vmap 999999999999".into(),
        "ioremap 0xfed00000 0".into(),
        "ioremap 0x100000 4096".into(),
        "ioremap 0xfffffffffffff000 0x2000".into(),
        "ioremap 0xfed00000 16 wc".into(),
        "iounmap 0xffffc90000000000".into(),
        "pt".into(),
        "pt 0x0000800000000000".into(),
        "peek 0x1000".into(),
        format!("peek {:#x} 12", a),
        format!("peek {:#x} 64", a + 4),
        "poke 0xffffffff80000000 1".into(),
        format!("poke {:#x} 0x1ff 8", a),
        format!("poke {:#x}", a),
    ] {
        expect_error(&mut s, &line)?;
    }
    assert_eq!((meminfo(&mut s)?, s.command("vmallocinfo")?), before);
    s.command_expect(&format!("vfree {a:#x}"), "^freed")?;
    expect_error(&mut s, &format!("vfree {a:#x}"))?;
    Ok(())
}

/// The listings survive a heap that cannot grow: `vmallocinfo` needs a
/// page for a list of 40 areas and, when `fail_page_alloc` refuses it,
/// answers with one error line; `as list` needs no heap at all. Before
/// the listings were made fallible, either one panicked the kernel here.
#[test]
fn listings_survive_a_failing_heap() -> anyhow::Result<()> {
    let mut s = shell("vmalloc-listing-oom")?;
    let areas: Vec<u64> =
        (0..40).map(|_| Ok(first_addr(&s.command("vmalloc 4096")?[0]))).collect::<anyhow::Result<_>>()?;
    s.command_expect("fail_page_alloc 1", "^fail_page_alloc: allocation 1 from now fails")?;
    let answer = s.command("vmallocinfo")?;
    assert_eq!(answer, ["error: out of memory"], "vmallocinfo with its list refused");
    s.command_expect("fail_page_alloc 1", "^fail_page_alloc: allocation 1 from now fails")?;
    let listed = s.command("as list")?;
    assert!(listed.len() == 2 && listed[1].ends_with('*'), "as list: {listed:?}");
    s.command_expect("fail_page_alloc off", "^fail_page_alloc: off")?;
    assert_eq!(s.command("vmallocinfo")?.len(), 40);
    for a in areas {
        s.command(&format!("vfree {a:#x}"))?;
    }
    s.command_expect("echo still here", "^still here$")?;
    Ok(())
}

/// A big machine: 5 GiB of RAM, most of it free.
fn big_machine(name: &str) -> anyhow::Result<Session> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = "5G".into();
    let mut s = Session::start(name, &machine, env)?;
    s.timeout = std::time::Duration::from_secs(180);
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    Ok(s)
}

/// Areas whose page list is larger than the largest physically contiguous
/// block (4 MiB, 524,288 frames): the list is made of one-page chunks, so
/// `vmalloc 3G` works with 5 GiB free. Before, `vmalloc 2049M`, `vmalloc
/// 3G` and `vmap 600000` all answered `error: out of memory`.
#[test]
fn areas_bigger_than_a_contiguous_page_list() -> anyhow::Result<()> {
    let mut s = big_machine("vmalloc-3g")?;
    assert!(field(&meminfo(&mut s)?, "MemFree") > 4800 * 1024);
    // Page tables made for the areas stay (accounted), everything else
    // must come back.
    let before = accounted_kb(&mut s)?;
    for (command, pages) in [("vmalloc 2049M", 524_544u64), ("vmalloc 3G", 786_432)] {
        let line = s.command_expect(command, &format!(r"^0x[0-9a-f]+ \({pages} pages mapped, "))?;
        let addr = first_addr(&line);
        assert_eq!(field(&meminfo(&mut s)?, "VmallocUsed"), pages * 4);
        // The last page is mapped and holds what is written there.
        let last = addr + (pages - 1) * 4096;
        s.command_expect(&format!("poke {last:#x} 0x5a5a"), "wrote 0x5a5a$")?;
        s.command_expect(&format!("peek {last:#x}"), "^0x[0-9a-f]+: 0x0000000000005a5a$")?;
        s.command_expect(
            &format!("vfree {addr:#x}"),
            &format!(r"^freed 0x[0-9a-f]+ \({pages} pages mapped, plus 1 guard page\)$"),
        )?;
        assert_eq!(field(&meminfo(&mut s)?, "VmallocUsed"), 0);
    }
    let v = first_addr(&s.command_expect("vmap 600000", r"^0x[0-9a-f]+ \(600000 separate pages mapped together\)$")?);
    s.command_expect(&format!("vunmap {v:#x}"), "^unmapped")?;
    assert!(s.command("vmallocinfo")?.is_empty());
    assert_eq!(accounted_kb(&mut s)?, before);
    s.command_expect("vmalloc 1M", r"^0x[0-9a-f]+ \(256 pages")?;
    Ok(())
}

/// An ioremap whose page tables cannot fit in memory (512 GiB needs 1 GiB
/// of PTE tables on a 512 MiB machine) is refused at once and keeps
/// nothing. The range starts 4 KiB past a 2 MiB boundary: an aligned one
/// would be mapped with 2 MiB leaves, whose 2 MiB of PMD tables fit. Before, it was refused after 90 s and kept every free page as
/// page tables, so that even `vmalloc 1M` failed afterwards.
#[test]
fn an_ioremap_too_big_for_its_page_tables_fails_fast() -> anyhow::Result<()> {
    let mut s = shell("ioremap-huge")?;
    let before = (meminfo(&mut s)?, s.command("vmallocinfo")?);
    let t0 = std::time::Instant::now();
    let answer = expect_error(&mut s, "ioremap 0x100000001000 0x8000000000")?;
    assert_eq!(answer, "error: out of memory");
    assert!(t0.elapsed() < std::time::Duration::from_secs(10), "refused after {:?}", t0.elapsed());
    assert_eq!((meminfo(&mut s)?, s.command("vmallocinfo")?), before);
    let a = first_addr(&s.command_expect("vmalloc 1M", r"^0x[0-9a-f]+ \(256 pages")?);
    s.command_expect(&format!("vfree {a:#x}"), "^freed")?;
    Ok(())
}

/// `vfree 0` frees nothing, as Linux's vfree(NULL), and says so in one
/// line that is not an error. Before, it answered `freed 0x0 (0 pages)`.
#[test]
fn vfree_of_null_says_nothing_was_freed() -> anyhow::Result<()> {
    let mut s = shell("vfree-null")?;
    let before = (meminfo(&mut s)?, s.command("vmallocinfo")?);
    for line in ["vfree 0", "vfree 0x0"] {
        s.command_expect(line, r"^vfree 0: nothing to free \(a null address is a no-op, as in Linux\)$")?;
    }
    assert_eq!((meminfo(&mut s)?, s.command("vmallocinfo")?), before);
    Ok(())
}

/// A double mapping is its own error all the way to the shell, not "out of
/// memory": the guard page's PTE of a freed area is forged present with
/// `poke_unsafe`, so the next, larger vmalloc at the same start meets it.
#[test]
fn a_double_mapping_is_reported_as_such() -> anyhow::Result<()> {
    let mut s = shell("vmalloc-double-map")?;
    let a = first_addr(&s.command_expect("vmalloc 4096", r"^0x[0-9a-f]+ \(")?);
    let walk = s.command(&format!("pt {a:#x}"))?;
    let entry = |line: &str| hex(line.split_whitespace().nth(2).expect("entry value"));
    let pte_table = entry(&walk[2]) & 0x000f_ffff_ffff_f000;
    let page = entry(&walk[3]);
    let guard_pte = 0xffff_8880_0000_0000 + pte_table + ((a + 0x1000) >> 12 & 511) * 8;
    s.command("poke_unsafe on")?;
    let poked = s.command(&format!("poke {guard_pte:#x} {page:#x}"))?;
    assert!(poked.last().is_some_and(|l| l.contains("wrote")), "{poked:?}");
    s.command_expect(&format!("vfree {a:#x}"), "^freed ")?;
    let answer = expect_error(&mut s, "vmalloc 8K")?;
    assert_eq!(answer, format!("error: {:#x} is already mapped (double mapping)", a + 0x1000));
    s.command(&format!("poke {guard_pte:#x} 0"))?;
    s.command("poke_unsafe off")?;
    Ok(())
}

/// `vmalloc <size> huge` (vmalloc_huge): 2 MiB PMD leaves in a 2 MiB-aligned
/// area, said by the answer, vmallocinfo, pt (PS, no PTE level) and
/// meminfo (the PTE table pages saved); the memory holds its contents
/// across the 2 MiB boundary; vfree gives every page back. Below 2 MiB
/// it is an ordinary vmalloc, and a misspelt variant is one error line.
#[test]
fn vmalloc_huge_maps_with_pmd_leaves() -> anyhow::Result<()> {
    let mut s = shell("vmalloc-huge")?;
    let before = accounted_kb(&mut s)?;
    let line = s.command_expect(
        "vmalloc 4M huge",
        r"^0x[0-9a-f]+ \(1024 pages mapped, 4194304 bytes, plus 1 guard page, 2 MiB PMD leaves\)$",
    )?;
    let addr = first_addr(&line);
    assert_eq!(addr % (2 << 20), 0, "{line}");
    let info = s.command("vmallocinfo")?;
    assert!(
        info.iter()
            .any(|l| l.starts_with(&format!("{addr:#x}-")) && l.ends_with("pages=1024 vmalloc huge page_size=2M")),
        "{info:?}"
    );
    let walk = s.command(&format!("pt {:#x}", addr + (2 << 20) + 0x1234))?;
    assert_eq!(walk.len(), 4, "the walk must end at the PMD leaf: {walk:?}");
    assert!(walk[2].starts_with("PMD[") && walk[2].contains(" PS "), "{walk:?}");
    let json = s.command_expect(&format!("pt {addr:#x} json"), r#"^\{"schema":"mosaic-pt""#)?;
    assert!(json.ends_with(r#""huge":true}"#), "{json}");
    assert_eq!(field(&meminfo(&mut s)?, "HugeVmapSaved"), 8);
    for at in [addr + (2 << 20) - 8, addr + (2 << 20)] {
        s.command_expect(&format!("poke {at:#x} 0x1122334455667788"), "wrote")?;
    }
    s.command_expect(&format!("peek {:#x}", addr + (2 << 20) - 8), ": 0x1122334455667788$")?;
    s.command_expect(&format!("peek {:#x}", addr + (2 << 20)), ": 0x1122334455667788$")?;
    s.command_expect(&format!("vfree {addr:#x}"), r"^freed 0x[0-9a-f]+ \(1024 pages mapped, plus 1 guard page\)$")?;
    assert_eq!(field(&meminfo(&mut s)?, "HugeVmapSaved"), 0);
    assert_eq!(accounted_kb(&mut s)?, before);
    let small =
        s.command_expect("vmalloc 100K huge", r"^0x[0-9a-f]+ \(25 pages mapped, .*4 KiB pages: no huge mapping")?;
    let info = s.command("vmallocinfo")?;
    assert!(info.iter().any(|l| l.ends_with("pages=25 vmalloc huge-fallback page_size=4K")), "{info:?}");
    s.command_expect(&format!("vfree {:#x}", first_addr(&small)), "^freed")?;
    assert_eq!(expect_error(&mut s, "vmalloc 4M hug")?, "error: unknown variant 'hug' (zero, 32, dma or huge)");
    Ok(())
}
