//! The physical memory commands: buddyinfo, zoneinfo, meminfo, slabinfo,
//! alloc_pages and free_pages, including their bad inputs.

use mosaic_tests::*;
use regex::Regex;

/// Parses `buddyinfo` into (zone, [free blocks per order]).
fn buddyinfo(s: &mut Session) -> anyhow::Result<Vec<(String, Vec<u64>)>> {
    let re = Regex::new(r"^Node 0, zone +(\w+) +((?:\d+ +){11})$")?;
    let mut zones = Vec::new();
    for line in s.command("buddyinfo")? {
        let c = re.captures(&line).ok_or_else(|| anyhow::anyhow!("bad buddyinfo line {line:?}"))?;
        zones.push((c[1].to_string(), c[2].split_whitespace().map(|n| n.parse().unwrap()).collect()));
    }
    Ok(zones)
}

fn meminfo_kb(s: &mut Session, field: &str) -> anyhow::Result<u64> {
    let lines = s.command("meminfo")?;
    let re = Regex::new(&format!(r"^{field}: +(\d+) kB$"))?;
    let line = lines.iter().find_map(|l| re.captures(l)).ok_or_else(|| anyhow::anyhow!("no {field} in {lines:?}"))?;
    Ok(line[1].parse()?)
}

#[test]
fn buddyinfo_and_meminfo_agree_and_alloc_free_round_trips() -> anyhow::Result<()> {
    let mut s = shell("buddy")?;
    let before = buddyinfo(&mut s)?;
    let names: Vec<&str> = before.iter().map(|(z, _)| z.as_str()).collect();
    assert_eq!(names, ["DMA", "DMA32"], "512 MiB has no Normal zone");
    let free_kb: u64 = before.iter().flat_map(|(_, n)| n.iter().enumerate().map(|(o, c)| c << o)).sum::<u64>() * 4;
    assert_eq!(meminfo_kb(&mut s, "MemFree")?, free_kb);
    assert!(meminfo_kb(&mut s, "MemTotal")? > 400 * 1024);

    let line = s.command_expect("alloc_pages 3 dma32", r"^0x[0-9a-f]+ \(order 3: 8 pages, 32 KiB, zone DMA32\)$")?;
    let addr = line.split_whitespace().next().unwrap().to_string();
    assert_eq!(u64::from_str_radix(&addr[2..], 16)? % (8 * 4096), 0, "block not aligned to its size");
    assert_ne!(buddyinfo(&mut s)?, before);
    assert_eq!(meminfo_kb(&mut s, "MemFree")?, free_kb - 32);

    expect_error(&mut s, &format!("free_pages {addr} 2"))?; // wrong order
    s.command_expect(&format!("free_pages {addr} 3"), "^freed 0x[0-9a-f]+ \\(order 3: 8 pages\\)$")?;
    let again = expect_error(&mut s, &format!("free_pages {addr} 3"))?;
    assert!(again.contains("already free"), "{again}");
    assert_eq!(buddyinfo(&mut s)?, before);
    Ok(())
}

#[test]
fn zones_fall_back_downwards_only() -> anyhow::Result<()> {
    let mut s = shell("zones")?;
    // No Normal memory at 512 MiB: a Normal request comes from DMA32.
    s.command_expect("alloc_pages 0", r"zone DMA32\)$")?;
    s.command_expect("alloc_pages 0 normal", r"zone DMA32\)$")?;
    s.command_expect("alloc_pages 0 DMA", r"zone DMA\)$")?;
    let zi = s.command("zoneinfo")?;
    assert!(zi.iter().any(|l| l == "Node 0, zone      DMA"), "{zi:?}");
    assert!(zi.iter().any(|l| l == "  range:         0x0-0xffffff"), "{zi:?}");
    // DMA32 ends where RAM below 4 GiB ends (QEMU keeps the top 128 KiB).
    let dma32 = Regex::new(r"^  range: +0x1000000-0x1f[0-9a-f]{6}$")?;
    assert!(zi.iter().any(|l| dma32.is_match(l)), "{zi:?}");
    Ok(())
}

#[test]
fn a_big_machine_has_a_normal_zone() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = "5G".into();
    let mut s = Session::start("normal-zone", &machine, env)?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    let names: Vec<String> = buddyinfo(&mut s)?.into_iter().map(|(z, _)| z).collect();
    assert_eq!(names, ["DMA", "DMA32", "Normal"]);
    s.command_expect("alloc_pages 10", r"zone Normal\)$")?;
    assert!(meminfo_kb(&mut s, "MemTotal")? > 4900 * 1024);
    Ok(())
}

#[test]
fn slabinfo_shows_the_caches() -> anyhow::Result<()> {
    let mut s = shell("slabinfo")?;
    let lines = s.command("slabinfo")?;
    assert!(lines[0].starts_with("# name"), "{lines:?}");
    for size in [16, 32, 64, 128, 256, 512, 1024] {
        assert!(lines.iter().any(|l| l.starts_with(&format!("kmalloc-{size} "))), "{lines:?}");
    }
    assert!(lines.last().unwrap().starts_with("large blocks from the buddy allocator: "));
    Ok(())
}

#[test]
fn bad_memory_commands_change_nothing() -> anyhow::Result<()> {
    let mut s = shell("buddy-bad")?;
    let before = buddyinfo(&mut s)?;
    for line in [
        "alloc_pages",
        "alloc_pages 11",
        "alloc_pages 99999999999999999999",
        "alloc_pages -1",
        "alloc_pages x",
        "alloc_pages 0 highmem",
        "alloc_pages 0 dma extra",
        "free_pages",
        "free_pages 0x1000",
        "free_pages 0x1000 0",
        "free_pages 0 0",
        "free_pages 0x1001 0",
        "free_pages 0x10000000000000 0",
        "free_pages 0xffffffffffffffff 0",
        "free_pages 0x200000 11",
        "free_pages zz 0",
        "buddyinfo now",
    ] {
        expect_error(&mut s, line)?;
    }
    assert_eq!(buddyinfo(&mut s)?, before);
    Ok(())
}

#[test]
fn free_pages_frees_only_what_alloc_pages_handed_to_the_shell() -> anyhow::Result<()> {
    let mut s = shell("free-pages-ownership")?;
    s.command("vmalloc 3")?;
    let walk = s.command("pt 0xffffc90000000000")?;
    let phys = walk.last().and_then(|l| l.strip_prefix("-> physical ")).expect("the area's page").to_string();
    let refused = expect_error(&mut s, &format!("free_pages {phys} 0"))?;
    assert!(refused.contains("in use by the kernel"), "{refused}");
    // The PGD of address space 0 and a page table are the kernel's too.
    let pgd = walk[0].split_whitespace().nth(2).expect("PGD entry");
    let table = format!("{:#x}", u64::from_str_radix(&pgd[2..], 16)? & 0x000f_ffff_ffff_f000);
    assert!(expect_error(&mut s, &format!("free_pages {table} 0"))?.contains("in use by the kernel"));
    s.command_expect("vfree 0xffffc90000000000", "^freed ")?;
    // What alloc_pages hands out, free_pages takes back, once.
    let block = s.command_expect("alloc_pages 1", "^0x[0-9a-f]+ ")?;
    let addr = block.split_whitespace().next().unwrap().to_string();
    s.command_expect(&format!("free_pages {addr} 1"), "^freed ")?;
    assert!(expect_error(&mut s, &format!("free_pages {addr} 1"))?.contains("already free"));
    Ok(())
}
