//! The pictures of memory (docs/visual.md): `memmap` and `vmmap`, their
//! json forms and `pt ... json`, checked against what the commands that
//! change memory did; the bad arguments; and the `view=on` state line on
//! the second serial port.

use anyhow::{Context, Result};
use mosaic_tests::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex number")
}

/// The address at the start of a command's answer.
fn first_addr(line: &str) -> u64 {
    hex(line.split_whitespace().next().unwrap())
}

/// The one json line a command answers, parsed.
fn json(s: &mut Session, command: &str) -> Result<Value> {
    let lines = s.command(command)?;
    anyhow::ensure!(lines.len() == 1, "`{command}` answered {} lines, not one json line", lines.len());
    serde_json::from_str(&lines[0]).with_context(|| format!("`{command}` is not json: {:.200}", lines[0]))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_else(|| panic!("no string \"{key}\" in {v:.300}"))
}

fn num(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no number \"{key}\" in {v:.300}"))
}

/// Physical memory at one page per cell: the cell string of `memmap json`.
fn cells(s: &mut Session) -> Result<Vec<u8>> {
    let map = json(s, "memmap json cells=1048576")?;
    assert_eq!(num(&map, "pages_per_cell"), 1);
    Ok(text(&map, "cells").as_bytes().to_vec())
}

/// A cell's class: every kind of free page (any order, per-CPU list) is
/// one, as the buddy and per-CPU lists shuffle free pages on every call.
fn class(code: u8) -> u8 {
    if code.is_ascii_digit() || code == b'a' || code == b'p' {
        b'f'
    } else {
        code
    }
}

/// The PFNs whose class differs between two maps.
fn changed(before: &[u8], after: &[u8]) -> BTreeSet<u64> {
    assert_eq!(before.len(), after.len());
    (0..before.len()).filter(|&i| class(before[i]) != class(after[i])).map(|i| i as u64).collect()
}

/// The frame a mapped virtual address lies in, from `pt ... json`.
fn frame_of(s: &mut Session, vaddr: u64) -> Result<u64> {
    let walk = json(s, &format!("pt {vaddr:#x} json"))?;
    Ok(hex(text(&walk, "phys")) / 4096)
}

#[test]
fn maps_memmap_cells_change_where_pages_were_taken_or_given_back_and_nowhere_else() -> Result<()> {
    let mut s = shell("maps-memmap-cells")?;
    let start = cells(&mut s)?;

    let line = s.command_expect("alloc_pages 2", r"^0x[0-9a-f]+ \(order 2")?;
    let block = first_addr(&line) / 4096;
    let held = cells(&mut s)?;
    assert_eq!(changed(&start, &held), (block..block + 4).collect(), "alloc_pages 2 at pfn {block:#x}");
    assert!((block..block + 4).all(|p| held[p as usize] == b'U'));

    s.command_expect(&format!("free_pages {:#x} 2", block * 4096), "^freed ")?;
    let freed = cells(&mut s)?;
    assert_eq!(changed(&held, &freed), (block..block + 4).collect(), "free_pages gave back other pages");

    let line = s.command_expect("vmalloc 20000", r"^0xffffc9[0-9a-f]+ \(5 pages")?;
    let area = first_addr(&line);
    let frames: BTreeSet<u64> = (0..5).map(|i| frame_of(&mut s, area + i * 4096)).collect::<Result<_>>()?;
    let mapped = cells(&mut s)?;
    for &pfn in &changed(&freed, &mapped) {
        let (was, is) = (freed[pfn as usize], mapped[pfn as usize]);
        match frames.contains(&pfn) {
            true => assert_eq!(is, b'V', "the area's frame {pfn:#x} shows {}", is as char),
            // Bookkeeping may grow: page tables for the area, heap for its records.
            false => assert!(class(was) == b'f' && matches!(is, b'T' | b'S'), "pfn {pfn:#x}: {was} -> {is}"),
        }
    }
    assert!(frames.iter().all(|&p| mapped[p as usize] == b'V'), "not every frame of the area shows V");
    assert_eq!(mapped.iter().filter(|&&c| c == b'V').count(), 5, "V cells besides the area's frames");

    s.command_expect(&format!("vfree {area:#x}"), "^freed ")?;
    let after = cells(&mut s)?;
    for &pfn in &changed(&mapped, &after) {
        let (was, is) = (mapped[pfn as usize], after[pfn as usize]);
        let expected = frames.contains(&pfn) || (was == b'S' && class(is) == b'f');
        assert!(expected, "vfree changed pfn {pfn:#x}: {} -> {}", was as char, is as char);
    }
    assert!(frames.iter().all(|&p| class(after[p as usize]) == b'f'), "vfree left a frame of the area held");
    Ok(())
}

/// The first row of the text `vmmap`, without its address.
fn first_row(s: &mut Session) -> Result<String> {
    let lines = s.command("vmmap")?;
    let row = lines.iter().find(|l| l.starts_with("0xffffc90000000000 ")).context("no first row")?;
    Ok(row.split_whitespace().nth(1).unwrap().to_string())
}

/// vmalloc, vmap and ioremap side by side, on the allocator `cmdline` picks.
fn areas_and_guards(name: &str, cmdline: &str, allocator: &str) -> Result<()> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = format!("panic=exit {cmdline}");
    let mut s = Session::start(name, &machine, env)?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    let empty = first_row(&mut s)?;
    assert!(empty.bytes().all(|c| c == b'='), "a fresh area is one free range: {empty}");

    let v = first_addr(&s.command_expect("vmalloc 20000", "^0x")?);
    s.command_expect("vmap 3", "^0x")?;
    s.command_expect("ioremap 0xfebf0000 8192", "^0x")?;
    let row = first_row(&mut s)?;
    assert!(row.starts_with("VVVVVgMMMgIIg="), "{row}");

    let map = json(&mut s, "vmmap json")?;
    assert_eq!(text(&map, "allocator"), allocator);
    let areas = map["areas"].as_array().context("areas")?;
    let got: Vec<(&str, u64, bool)> =
        areas.iter().map(|a| (text(a, "kind"), num(a, "pages"), a["guard"] == true)).collect();
    assert_eq!(got, [("vmalloc", 5, true), ("vmap", 3, true), ("ioremap", 2, true)]);
    assert_eq!(hex(text(&areas[0], "start")), v);
    assert_eq!(hex(text(&areas[0], "end")), v + 6 * 4096, "end includes the guard page");
    assert_eq!(num(&areas[0], "requested"), 20000);
    assert!(text(&areas[0], "caller").contains(".rs:"));
    assert_eq!(text(&areas[2], "phys"), "0xfebf0000");
    assert!(areas[0].get("phys").is_none(), "phys is for ioremap only");
    let largest = &map["largest_free"];
    assert_eq!(hex(text(largest, "start")), v + 13 * 4096);
    assert_eq!(text(largest, "end"), "0xffffe90000000000");

    s.command_expect(&format!("vfree {v:#x}"), "^freed ")?;
    let row = first_row(&mut s)?;
    assert!(row.starts_with("------MMMgIIg="), "the freed range is free, not the largest: {row}");
    let map = json(&mut s, "vmmap json")?;
    let free: Vec<(u64, u64)> =
        map["free"].as_array().context("free")?.iter().map(|r| (hex(text(r, "start")), hex(text(r, "end")))).collect();
    assert_eq!(free[0], (v, v + 6 * 4096));
    let part = json(&mut s, &format!("vmmap json {:#x} {:#x}", v + 6 * 4096, v + 10 * 4096))?;
    let kinds: Vec<&str> = part["areas"].as_array().unwrap().iter().map(|a| text(a, "kind")).collect();
    assert_eq!(kinds, ["vmap"], "a range shows the areas it meets");
    Ok(())
}

#[test]
fn maps_vmmap_shows_areas_guards_and_the_largest_free_range_on_the_tree() -> Result<()> {
    areas_and_guards("maps-vmmap-tree", "", "tree")
}

#[test]
fn maps_vmmap_shows_areas_guards_and_the_largest_free_range_on_the_list() -> Result<()> {
    areas_and_guards("maps-vmmap-list", "vmalloc=list", "list")
}

#[test]
fn maps_bad_arguments_answer_one_error_line_and_json_keeps_its_schema() -> Result<()> {
    let mut s = shell("maps-bad-and-schema")?;
    for bad in [
        "memmap width=0",
        "memmap width=100000",
        "memmap width=7",
        "memmap width=x",
        "memmap width=64 width=64",
        "memmap highmem",
        "memmap dma normal",
        "memmap cells=8",
        "memmap json cells=0",
        "memmap json cells=2000000",
        "memmap json width=64",
        "memmap dma json",
        "vmmap 0xffffc90000001000 0xffffc90000000000",
        "vmmap 0xffffc90000000000 0xffffc90000000000",
        "vmmap 0x1000 0x2000",
        "vmmap 0xffffc90000000000 0xffffffffffffffff",
        "vmmap 0xffffc90000000000",
        "vmmap junk junk",
        "vmmap width=100000",
        "vmmap json width=64",
        "vmmap json cells=64",
        "pt 0xffffc90000000000 jsn",
    ] {
        expect_error(&mut s, bad)?;
    }

    let map = json(&mut s, "memmap json")?;
    assert_eq!((text(&map, "schema"), num(&map, "version"), num(&map, "page_size")), ("mosaic-memmap", 1, 4096));
    let (total, per_cell) = (num(&map, "total_pages"), num(&map, "pages_per_cell"));
    let cells = text(&map, "cells");
    assert_eq!(num(&map, "cells_count"), cells.len() as u64);
    assert_eq!(cells.len() as u64, total.div_ceil(per_cell));
    assert!(cells.len() <= 4096 && per_cell == total.div_ceil(4096));
    assert!(cells.bytes().all(|c| b"0123456789apKMTSVUXR.".contains(&c)), "{cells}");
    let counts = map["counts"].as_object().context("counts")?;
    let names =
        ["free", "pcp", "kernel", "mem_map", "pgtable", "slab", "vmalloc", "shell", "other", "reserved", "hole"];
    assert_eq!(counts.len(), names.len());
    assert_eq!(names.iter().map(|n| num(&map["counts"], n)).sum::<u64>(), total, "counts cover every page");
    for zone in map["zones"].as_array().context("zones")? {
        let buddy: Vec<u64> = zone["buddyinfo"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
        assert_eq!(buddy.len(), 11);
        let in_lists: u64 = buddy.iter().enumerate().map(|(order, n)| n << order).sum();
        assert!(in_lists <= num(zone, "free_pages") && num(zone, "start_pfn") < num(zone, "end_pfn"));
    }
    let dma = json(&mut s, "memmap json dma cells=64")?;
    assert_eq!((num(&dma, "start_pfn"), num(&dma, "total_pages"), num(&dma, "cells_count")), (0, 4096, 64));
    assert_eq!(dma["zones"].as_array().unwrap().len(), 1);
    assert_eq!(text(&dma["zones"][0], "name"), "DMA");

    let v = first_addr(&s.command_expect("vmalloc 8192", "^0x")?);
    let walk = json(&mut s, &format!("pt {v:#x} json"))?;
    assert_eq!((text(&walk, "schema"), num(&walk, "version")), ("mosaic-pt", 1));
    let levels: Vec<&str> = walk["levels"].as_array().unwrap().iter().map(|l| text(l, "level")).collect();
    assert_eq!(levels, ["PGD", "PUD", "PMD", "PTE"]);
    assert!(walk["levels"][3]["next"].is_null() && walk["levels"][0]["next"].is_string());
    assert!(walk["levels"][3]["flags"].as_array().unwrap().contains(&Value::from("PRESENT")));
    assert!(walk["phys"].is_string() && walk["huge"] == false);
    let guard = json(&mut s, &format!("pt {:#x} json", v + 2 * 4096))?;
    assert!(guard["phys"].is_null(), "the guard page is not mapped");

    let text_map = s.command("memmap")?;
    assert!(text_map.iter().any(|l| l == "-- zone DMA from pfn 0x0 (4096 pages) --"), "{text_map:?}");
    assert!(text_map.iter().any(|l| l.starts_with("scale: ") && l.contains(" pages per cell, 64 cells per row")));
    Ok(())
}

#[test]
fn maps_view_on_writes_a_state_line_to_com2_after_every_command() -> Result<()> {
    let env = TestEnv::get()?;
    let dir = xtask::root().join("target/test-logs");
    std::fs::create_dir_all(&dir)?;
    let com2 = dir.join("maps-view-com2.jsonl");
    let _ = std::fs::remove_file(&com2);
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = "panic=exit view=on".into();
    machine.extra = vec!["-serial".into(), format!("file:{}", com2.display())];
    let mut s = Session::start("maps-view", &machine, env)?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    let area = first_addr(&s.command_expect("vmalloc 20000", "^0x")?);
    s.command("")?; // an empty line: no state line
    s.command_expect("echo done", "^done$")?;
    assert!(!s.transcript().contains("mosaic-state"), "the state line reached the console");

    // The line is written before the prompt; give QEMU's file a moment.
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = std::fs::read_to_string(&com2)?.lines().map(String::from).collect::<Vec<_>>();
        if lines.len() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(lines.len(), 3, "one line at boot and one per command: {lines:.300?}");
    let states: Vec<Value> = lines.iter().map(|l| serde_json::from_str(l)).collect::<Result<_, _>>()?;
    for (seq, (state, command)) in states.iter().zip(["", "vmalloc 20000", "echo done"]).enumerate() {
        assert_eq!((text(state, "schema"), num(state, "version")), ("mosaic-state", 1));
        assert_eq!((num(state, "seq"), text(state, "command")), (seq as u64, command));
        assert_eq!(text(&state["memmap"], "schema"), "mosaic-memmap");
        assert!(text(&state["memmap"], "cells").len() <= 4096);
        assert_eq!(text(&state["vmmap"], "schema"), "mosaic-vmmap");
    }
    assert!(states[0]["pt"].is_null(), "no vmalloc area at boot");
    assert_eq!(hex(text(&states[1]["pt"], "vaddr")), area, "the walk is of the new area");
    assert_eq!(states[1]["vmmap"]["areas"].as_array().unwrap().len(), 1);
    Ok(())
}
