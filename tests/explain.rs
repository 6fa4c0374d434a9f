//! `explain <addr>` and the vmalloc overrun check, through the shell: each
//! kind of answer once (a vmalloc byte, its slack and guard page, a freed
//! area, an ioremap, the direct map, the image, the stacks, the PGD state,
//! a non-canonical address), the bad inputs, and a redzone overwrite
//! reported at vfree and in vmallocinfo.

use mosaic_tests::*;
use regex::Regex;

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("hex number")
}

fn first_addr(line: &str) -> u64 {
    hex(line.split_whitespace().next().unwrap())
}

/// Runs `explain addr` and checks its one line against `pattern` (the
/// part after `addr: `).
fn explain(s: &mut Session, addr: u64, pattern: &str) -> anyhow::Result<String> {
    s.command_expect(&format!("explain {addr:#x}"), &format!("^{addr:#x}: {pattern}"))
}

const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
const STACK_GUARD: u64 = 0xffff_fe00_0000_0000;

#[test]
fn explain_names_vmalloc_bytes_guard_pages_freed_areas_and_ioremaps() -> anyhow::Result<()> {
    let mut s = shell("explain-vmalloc")?;
    let a = first_addr(&s.command_expect("vmalloc 20000", r"^0x[0-9a-f]+ \(5 pages")?);
    let area =
        format!(r"the 20000-byte vmalloc area at {a:#x} \(5 pages \+ guard\), allocated at \S+vm_commands\.rs:\d+");
    explain(&mut s, a + 100, &format!("byte 100 of {area}$"))?;
    explain(&mut s, a + 20012, &format!("byte 20012 of {area}, 12 bytes past its end$"))?;
    explain(&mut s, a + 0x5000 + 8, &format!("the guard page of {area}, 488 bytes past its end$"))?;
    s.command_expect(&format!("vfree {a:#x}"), "^freed")?;
    let freed =
        format!(r"inside an area freed earlier \(vfree\): byte 100 of the 20000-byte vmalloc area that was at {a:#x}");
    explain(&mut s, a + 100, &freed)?;
    let h = first_addr(&s.command_expect("ioremap 0xfed00000 0x400", r"^0x[0-9a-f]+ \(1024 bytes")?);
    explain(&mut s, h + 0x10, r"an ioremap of phys 0xfed00000 \(uncached\): phys 0xfed00010, area at ")?;
    s.command_expect(&format!("iounmap {h:#x}"), "^unmapped")?;
    let c = first_addr(&s.command_expect("ioremap 0xfed00000 0x400 cache", r"^0x[0-9a-f]+ \(1024 bytes")?);
    explain(&mut s, c, r"an ioremap of phys 0xfed00000 \(cached\)")?;
    Ok(())
}

#[test]
fn explain_names_the_direct_map_image_stacks_and_non_canonical_addresses() -> anyhow::Result<()> {
    let mut s = shell("explain-layout")?;
    let line = s.command_expect("alloc_pages 3 dma32", r"^0x[0-9a-f]+ \(order 3")?;
    let phys = first_addr(&line);
    let pfn = phys / 4096;
    let dm = PAGE_OFFSET + phys + 0x1008;
    explain(
        &mut s,
        dm,
        &format!(
            r"the direct map of pfn {:#x} .*in zone DMA32, in a block of order 3 allocated by alloc_pages \(head pfn {pfn:#x}\)$",
            pfn + 1
        ),
    )?;
    s.command_expect(&format!("free_pages {phys:#x} 3"), "^freed")?;
    let free = explain(&mut s, dm, r"the direct map of pfn .*in zone DMA32, in a free block of order (\d+)")?;
    let order: u32 = Regex::new(r"order (\d+)")?.captures(&free).unwrap()[1].parse()?;
    assert!(order >= 3, "a freed order-3 block can only merge upwards: {free}");
    // Somewhere in the image's first 2 MiB lies code.
    let text = (0..512u64).map(|i| KERNEL_BASE + i * 4096).find(|&a| {
        s.command(&format!("explain {a:#x}")).is_ok_and(|l| l.len() == 1 && l[0].ends_with(": kernel text"))
    });
    assert!(text.is_some(), "no page of the first 2 MiB of the image is explained as kernel text");
    explain(&mut s, STACK_GUARD + 8, "the guard page below the boot stack")?;
    explain(&mut s, STACK_GUARD + 0x1000 + 0x100, r"the boot stack, \d+ bytes below its top$")?;
    explain(&mut s, 0x8000_0000_0000_0000, r"not canonical")?;
    explain(
        &mut s,
        0x0000_7000_0000_0000,
        r"not mapped: PGD entry 224 is empty in this address space and empty in the master$",
    )?;
    Ok(())
}

#[test]
fn explain_sees_a_pgd_entry_a_lazy_fault_would_copy() -> anyhow::Result<()> {
    let mut s = shell("explain-lazy")?;
    s.command_expect("pgd_sync lazy", "^pgd_sync: lazy$")?;
    let a = first_addr(&s.command_expect("vmalloc 8K", r"^0x[0-9a-f]+ \(2 pages")?);
    let line = s.command_expect("as new", r"^address space \d+ ")?;
    let id = line.split_whitespace().nth(2).unwrap().to_string();
    s.command_expect(&format!("as switch {id}"), "^switched")?;
    let lazy = r"; PGD entry 402 is empty in this address space but present in the master \(a lazy vmalloc fault would fix it\)$";
    explain(&mut s, a, &format!("byte 0 of the 8192-byte vmalloc area.*{lazy}"))?;
    s.command_expect(&format!("touch {a:#x}"), "vmalloc fault")?;
    let after = s.command(&format!("explain {a:#x}"))?;
    assert!(after.len() == 1 && !after[0].contains("PGD entry"), "{after:?}");
    Ok(())
}

#[test]
fn explain_bad_input_is_one_error_line() -> anyhow::Result<()> {
    let mut s = shell("explain-bad-input")?;
    for line in ["explain", "explain zzz", "explain 0x1ffffffffffffffff", "explain 1 2", "explain -5"] {
        expect_error(&mut s, line)?;
    }
    s.command_expect("echo still here", "^still here$")?;
    Ok(())
}

#[test]
fn an_overrun_into_the_slack_is_reported_at_vfree() -> anyhow::Result<()> {
    let mut s = shell("redzone-overrun")?;
    let a = first_addr(&s.command_expect("vmalloc 20000", r"^0x[0-9a-f]+ \(5 pages")?);
    // Inside the asked-for size: not an overrun.
    s.command_expect(&format!("poke {:#x} 0x41 8", a + 19999), "wrote")?;
    let clean = s.command("vmallocinfo")?;
    assert!(clean.iter().all(|l| !l.contains("redzone")), "{clean:?}");
    s.command_expect(&format!("poke {:#x} 0x41 8", a + 20012), "wrote")?;
    s.command_expect(&format!("poke {:#x} 0x0 8", a + 20300), "wrote")?;
    let info = s.command("vmallocinfo")?;
    assert!(
        info.iter()
            .any(|l| l.starts_with(&format!("{a:#x}-")) && l.contains("redzone-hit") && l.contains("offset 20012")),
        "{info:?}"
    );
    let out = s.command(&format!("vfree {a:#x}"))?;
    let re = Regex::new(&format!(
        r"^BUG: vmalloc redzone overwritten: the 20000-byte vmalloc area at {a:#x} \(allocated at \S+vm_commands\.rs:\d+\): first changed byte at offset 20012 \(0x41\), last at offset 20300 \(0x00\)"
    ))?;
    assert!(out.iter().any(|l| re.is_match(l)), "{out:?}");
    assert!(out.last().is_some_and(|l| l.starts_with("freed")), "the vfree completes: {out:?}");
    // A clean area frees silently; the kernel carries on.
    let b = first_addr(&s.command_expect("vmalloc 100", r"^0x[0-9a-f]+ \(1 pages")?);
    s.command_expect(&format!("poke {:#x} 0x7 8", b + 99), "wrote")?;
    let quiet = s.command(&format!("vfree {b:#x}"))?;
    assert!(quiet.len() == 1 && quiet[0].starts_with("freed"), "{quiet:?}");
    Ok(())
}

#[test]
fn the_overrun_check_can_be_turned_off_at_boot() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = "panic=exit redzone=off".into();
    let mut s = Session::start("redzone-off", &machine, env)?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    let a = first_addr(&s.command_expect("vmalloc 100", r"^0x[0-9a-f]+ \(1 pages")?);
    s.command_expect(&format!("poke {:#x} 0x41 8", a + 200), "wrote")?;
    let out = s.command(&format!("vfree {a:#x}"))?;
    assert!(out.len() == 1 && out[0].starts_with("freed"), "{out:?}");
    Ok(())
}
