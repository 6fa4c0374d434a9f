//! The lazy purge of vfree driven from the shell (mm/vmalloc/purge.rs):
//! `vfree lazy`, what `vmallocinfo` and `vmstat` show of a lazily freed
//! area, `purge`, the switch back to eager, the boot options, and bad
//! input for the new words.

use mosaic_tests::*;

fn first_addr(line: &str) -> u64 {
    let word = line.split_whitespace().next().unwrap();
    u64::from_str_radix(word.trim_start_matches("0x"), 16).unwrap()
}

/// The value of one `vmstat` line.
fn vmstat(s: &mut Session, name: &str) -> anyhow::Result<String> {
    let out = s.command("vmstat")?;
    let line = out.iter().find_map(|l| l.strip_prefix(&format!("{name} ")));
    Ok(line.ok_or_else(|| anyhow::anyhow!("no {name} in vmstat: {out:?}"))?.to_string())
}

#[test]
fn a_lazy_free_waits_for_the_purge() -> anyhow::Result<()> {
    let mut s = shell("lazy-purge")?;
    assert_eq!(vmstat(&mut s, "vfree_strategy")?, "eager", "eager is the default");
    s.command_expect("vfree lazy 64", r"^vfree: lazy \(lazy_max_pages 64, 0 pages in 0 areas")?;
    let a = first_addr(&s.command_expect("vmalloc 20000", r"^0x[0-9a-f]+ \(5 pages")?);
    s.command_expect(&format!("vfree {a:#x}"), "^freed .*lazily: the TLB flush and the range wait for the purge")?;
    let unpurged = format!("^{a:#x}-{:#x} +24576 unpurged vm_area$", a + 6 * 4096);
    let info = s.command("vmallocinfo")?;
    assert!(info.iter().any(|l| regex::Regex::new(&unpurged).unwrap().is_match(l)), "{info:?}");
    assert_eq!(vmstat(&mut s, "vmap_lazy_nr")?, "5");
    expect_error(&mut s, &format!("vfree {a:#x}"))?;
    let b = first_addr(&s.command_expect("vmalloc 4096", r"^0x[0-9a-f]+ \(1 pages")?);
    assert_ne!(a, b, "the lazily freed range was handed out before the purge");
    s.command_expect("purge", r"^purge: 1 areas \(5 pages\) given back after one TLB flush of 5 pages")?;
    s.command_expect("purge", "^purge: nothing to purge$")?;
    assert!(!s.command("vmallocinfo")?.iter().any(|l| l.contains("unpurged")));
    let c = first_addr(&s.command_expect("vmalloc 4096", r"^0x[0-9a-f]+ \(1 pages")?);
    assert_eq!(c, a, "after the purge the range is the lowest fit again");
    let counters = ["vmap_lazy_frees", "vmap_purges", "vmap_pages_purged"].map(|n| vmstat(&mut s, n).unwrap());
    assert_eq!(counters, ["1", "1", "5"].map(String::from));
    // Going eager purges what waits.
    s.command(&format!("vfree {b:#x}"))?;
    let out = s.command("vfree eager")?;
    assert!(out.len() == 2 && out[0].starts_with("purged first: 1 areas (1 pages)"), "{out:?}");
    assert!(out[1].starts_with("vfree: eager"), "{out:?}");
    s.command_expect(&format!("vfree {c:#x}"), r"^freed 0x[0-9a-f]+ \(1 pages mapped, plus 1 guard page\)$")?;
    Ok(())
}

#[test]
fn the_new_words_refuse_bad_input() -> anyhow::Result<()> {
    let mut s = shell("lazy-purge-bad")?;
    for bad in ["purge x", "vfree=bogus", "vfree bogus", "vfree eager 5", "vfree lazy lots", "vfree lazy 99999999"] {
        expect_error(&mut s, bad)?;
    }
    assert_eq!(vmstat(&mut s, "vfree_strategy")?, "eager", "a refused word changed the strategy");
    Ok(())
}

#[test]
fn the_boot_options_set_strategy_and_limit() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.cmdline = "panic=exit vfree=lazy lazy_max_pages=4 vfree=bogus".into();
    let mut s = Session::start("lazy-purge-boot", &machine, env)?;
    s.expect("`vfree=bogus`: the value must be `eager` or `lazy`; option ignored")?;
    s.expect("^Mosaic teaching kernel")?;
    s.wait_prompt()?;
    assert_eq!(vmstat(&mut s, "vfree_strategy")?, "lazy");
    assert_eq!(vmstat(&mut s, "lazy_max_pages")?, "4");
    // Five pages pass the limit of four: the free itself purges.
    let a = first_addr(&s.command_expect("vmalloc 20000", r"^0x[0-9a-f]+ \(5 pages")?);
    s.command(&format!("vfree {a:#x}"))?;
    assert_eq!(vmstat(&mut s, "vmap_purges")?, "1");
    assert_eq!(vmstat(&mut s, "vmap_unpurged_areas")?, "0");
    Ok(())
}
