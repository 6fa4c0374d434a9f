//! What `poke` refuses and what the direct map holds after boot: the
//! kernel image and the page tables are not written through any alias,
//! the direct map ends where RAM ends, and the memory the shell owns
//! (vmalloc areas, through either of their two addresses) is still
//! written. The machine stays alive after every refusal.

use mosaic_tests::*;

const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("a hex number")
}

/// The `pt` walk of `addr`: its lines, and the physical address, if mapped.
fn pt(s: &mut Session, addr: u64) -> anyhow::Result<(Vec<String>, Option<u64>)> {
    let lines = s.command(&format!("pt {addr:#x}"))?;
    let phys = lines.last().and_then(|l| l.strip_prefix("-> physical ")).map(hex);
    Ok((lines, phys))
}

/// The value `peek` reads at `addr` (64 bits).
fn peek(s: &mut Session, addr: u64) -> anyhow::Result<u64> {
    let line = s.command_expect(&format!("peek {addr:#x} 64"), "^0x[0-9a-f]+: 0x[0-9a-f]{16}$")?;
    Ok(hex(line.rsplit(' ').next().unwrap()))
}

fn alive(s: &mut Session) -> anyhow::Result<()> {
    s.command_expect("echo still here", "^still here$")?;
    Ok(())
}

/// A page of kernel text: the first page of the image mapped executable.
fn text_page(s: &mut Session) -> anyhow::Result<(u64, u64)> {
    for page in 0..1024 {
        let addr = KERNEL_BASE + page * 0x1000;
        let (lines, phys) = pt(s, addr)?;
        let leaf = &lines[lines.len() - 2];
        if let Some(phys) = phys.filter(|_| !leaf.ends_with(" NX")) {
            return Ok((addr, phys));
        }
    }
    anyhow::bail!("no executable page in the first 4 MiB of the kernel image")
}

#[test]
fn poke_refuses_kernel_text_through_either_address() -> anyhow::Result<()> {
    let mut s = shell("protect-text")?;
    let (text, phys) = text_page(&mut s)?;
    let alias = PAGE_OFFSET + phys;
    // The same value back, so that a kernel which lets it through is not hurt.
    let value = peek(&mut s, alias)?;
    for addr in [alias, text] {
        let e = expect_error(&mut s, &format!("poke {addr:#x} {value:#x} 64"))?;
        assert!(e.contains("is kernel text"), "{e}");
        alive(&mut s)?;
    }
    // The alias reads, but is mapped read-only and not executable.
    assert_eq!(peek(&mut s, alias)?, value);
    let (lines, _) = pt(&mut s, alias)?;
    let leaf = &lines[lines.len() - 2];
    assert!(leaf.starts_with("PTE[") && !leaf.contains(" W") && leaf.ends_with(" NX"), "{lines:?}");
    assert!(lines[0].ends_with(" NX"), "the direct map's PGD entry is NX: {lines:?}");
    alive(&mut s)
}

#[test]
fn poke_refuses_the_page_tables() -> anyhow::Result<()> {
    let mut s = shell("protect-tables")?;
    // PGD entry 511 (the kernel image) and the table it points to.
    let (lines, _) = pt(&mut s, KERNEL_BASE)?;
    let entry = hex(lines[0].split_whitespace().nth(2).unwrap());
    let pud = PAGE_OFFSET + (entry & 0x000f_ffff_ffff_f000);
    let list = s.command("as list")?;
    let pgd = list.iter().find_map(|l| l.split_whitespace().nth(1).filter(|_| l.trim_start().starts_with("0 ")));
    let pgd = PAGE_OFFSET + hex(pgd.ok_or_else(|| anyhow::anyhow!("no master in {list:?}"))?);
    for addr in [pud, pgd + 511 * 8] {
        let value = peek(&mut s, addr)?;
        let e = expect_error(&mut s, &format!("poke {addr:#x} {value:#x} 64"))?;
        assert!(e.contains("is a page table"), "{e}");
        alive(&mut s)?;
    }
    Ok(())
}

#[test]
fn poke_writes_a_vmalloc_area_through_both_of_its_addresses() -> anyhow::Result<()> {
    let mut s = shell("protect-vmalloc")?;
    let line = s.command_expect("vmalloc 8K", "^0x[0-9a-f]+ \\(2 pages")?;
    let area = hex(line.split_whitespace().next().unwrap());
    s.command_expect(&format!("poke {area:#x} 0x1234 64"), "wrote 0x1234$")?;
    assert_eq!(peek(&mut s, area)?, 0x1234);
    // The second page through the direct map: the vmalloc address sees it.
    let (_, phys) = pt(&mut s, area + 0x1000)?;
    let alias = PAGE_OFFSET + phys.expect("a vmalloc page is mapped");
    s.command_expect(&format!("poke {alias:#x} 0xabcd 64"), "wrote 0xabcd$")?;
    assert_eq!(peek(&mut s, area + 0x1000)?, 0xabcd);
    // A block of the shell's alloc_pages is written too.
    let line = s.command_expect("alloc_pages 0", "^0x[0-9a-f]+ \\(order 0")?;
    let block = PAGE_OFFSET + hex(line.split_whitespace().next().unwrap());
    s.command_expect(&format!("poke {block:#x} 7"), "wrote 0x7$")?;
    alive(&mut s)
}

#[test]
fn the_direct_map_ends_with_ram() -> anyhow::Result<()> {
    let mut s = shell("protect-ram-only")?;
    let log = s.transcript();
    // What was mapped before depends on the CPU's physical address bits
    // (the bootloader maps at least 4 GiB); what is kept is RAM.
    assert!(log.contains("direct map: 511 MiB of RAM kept, "), "{log}");
    // 1 GiB, 4 GiB and QEMU's reserved range below 1 TiB: beyond RAM.
    for phys in [0x4000_0000u64, 0x1_0000_0000, 0xfd_0000_0000] {
        let e = expect_error(&mut s, &format!("peek {:#x}", PAGE_OFFSET + phys))?;
        assert!(e.ends_with("in the direct map, beyond physical memory"), "{e}");
    }
    // The VGA hole below 1 MiB is not RAM either.
    let e = expect_error(&mut s, &format!("peek {:#x}", PAGE_OFFSET + 0xb8000))?;
    assert!(e.contains("a hole between RAM ranges"), "{e}");
    // The last page of RAM still reads.
    let (_, phys) = pt(&mut s, PAGE_OFFSET + 0x1ffd_f000)?;
    assert_eq!(phys, Some(0x1ffd_f000));
    alive(&mut s)
}

#[test]
fn poke_unsafe_writes_what_poke_refuses_but_not_through_a_read_only_alias() -> anyhow::Result<()> {
    let mut s = shell("protect-unsafe")?;
    s.command_expect("poke_unsafe", "^poke_unsafe: off ")?;
    // Frame 0 is reserved at boot and unused in long mode: the same value back.
    let zero = PAGE_OFFSET;
    let value = peek(&mut s, zero)?;
    let e = expect_error(&mut s, &format!("poke {zero:#x} {value:#x} 64"))?;
    assert!(e.contains("is memory reserved at boot"), "{e}");
    s.command_expect("poke_unsafe on", "^poke_unsafe: on. Warning: ")?;
    let out = s.command(&format!("poke {zero:#x} {value:#x} 64"))?;
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].starts_with("warning: ") && out[0].contains("is memory reserved at boot"), "{out:?}");
    assert!(out[1].ends_with(&format!("wrote {value:#x}")), "{out:?}");
    // The kernel text's direct-map alias is read-only: the MMU refuses.
    let (_, phys) = text_page(&mut s)?;
    let alias = PAGE_OFFSET + phys;
    let value = peek(&mut s, alias)?;
    let out = s.command(&format!("poke {alias:#x} {value:#x} 64"))?;
    assert!(
        out.last().is_some_and(|l| l.starts_with("error: page fault: write at ") && l.contains("protection violation")),
        "{out:?}"
    );
    s.command_expect("poke_unsafe off", "^poke_unsafe: off ")?;
    expect_error(&mut s, &format!("poke {zero:#x} {value:#x} 64"))?;
    alive(&mut s)
}
