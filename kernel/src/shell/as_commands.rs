//! Shell commands for address spaces and PGD synchronisation:
//! `as`, `pgd_sync`, `vmstat` (which also shows the lazy purge's
//! counters, mm/vmalloc/purge.rs), and the `pgd_bench` and `huge_bench`
//! front ends.

use super::parse::{parse_u64, Shown};
use super::CmdError;
use crate::mm::aspace::{self, Strategy, EAGER_COPIES, PREALLOC_PAGES, VMALLOC_FAULTS};
use crate::mm::vmalloc;
use crate::{bail, println};
use core::sync::atomic::Ordering::Relaxed;

/// `as new | list | switch <id> | destroy <id>`
pub fn as_cmd(args: &[&str]) -> Result<(), CmdError> {
    match (args[0], args.get(1)) {
        ("new", None) => {
            let id = aspace::create().map_err(CmdError::from_display)?;
            let info = aspace::info(id).expect("just created");
            println!("address space {id} (PGD at {:#x}, {} vmalloc entries)", info.pgd, info.vmalloc_entries);
        }
        ("list", None) => {
            println!("{:>3}  {:<12} {:>15} {:>7}  current", "id", "pgd", "vmalloc-entries", "faults");
            // Formatted straight to the console: no heap, so that a failing
            // heap (fail_page_alloc) cannot make a listing panic.
            for info in (0..aspace::MAX_SPACES).filter_map(aspace::info) {
                let mark = if info.current { "  *" } else { "" };
                println!("{:>3}  {:<#12x} {:>15} {:>7}{mark}", info.id, info.pgd, info.vmalloc_entries, info.faults);
            }
        }
        ("switch", Some(id)) => {
            aspace::switch(parse_u64(id)?).map_err(CmdError::from_display)?;
            println!("switched to address space {}", aspace::current());
        }
        ("destroy", Some(id)) => {
            let id = parse_u64(id)?;
            aspace::destroy(id).map_err(CmdError::from_display)?;
            println!("destroyed address space {id}");
        }
        ("new" | "list", Some(_)) => bail!("usage: as {}", args[0]),
        ("switch" | "destroy", None) => bail!("usage: as {} <id>", args[0]),
        (other, _) => bail!("unknown subcommand '{}' (new, list, switch or destroy)", Shown(other)),
    }
    Ok(())
}

/// `pgd_sync [lazy|eager|prealloc]`
pub fn pgd_sync(args: &[&str]) -> Result<(), CmdError> {
    if let Some(name) = args.first() {
        let Some(strategy) = Strategy::parse(name) else {
            bail!("unknown strategy '{}' (lazy, eager or prealloc)", Shown(name));
        };
        aspace::set_strategy(strategy, || vmalloc::prealloc_top_level().map_err(|_| aspace::AsError::NoMemory))
            .map_err(CmdError::from_display)?;
    }
    println!("pgd_sync: {}", aspace::strategy().name());
    Ok(())
}

/// Counters that show what each strategy costs, as /proc/vmstat lines.
pub fn vmstat(_: &[&str]) -> Result<(), CmdError> {
    println!("pgd_sync_strategy {}", aspace::strategy().name());
    println!("address_spaces {}", aspace::count());
    println!("vmalloc_faults {}", VMALLOC_FAULTS.load(Relaxed));
    println!("pgd_eager_copies {}", EAGER_COPIES.load(Relaxed));
    println!("pgd_prealloc_pages {}", PREALLOC_PAGES.load(Relaxed));
    println!("vmalloc_page_table_pages {}", crate::mm::pgtable::table_pages());
    let lazy = vmalloc::lazy_stats();
    println!("vfree_strategy {}", lazy.strategy.name());
    println!("lazy_max_pages {}", lazy.max_pages);
    println!("vmap_lazy_nr {}", lazy.lazy_pages);
    println!("vmap_unpurged_areas {}", lazy.unpurged);
    println!("vmap_lazy_frees {}", lazy.lazy_frees);
    println!("vmap_purges {}", lazy.purges);
    println!("vmap_pages_purged {}", lazy.pages_purged);
    println!("vmap_tlb_flushes {}", lazy.tlb_flushes);
    Ok(())
}

/// `pgd_bench lazy|eager|prealloc` (the measurement is `bench::pgd_bench`).
pub fn pgd_bench(args: &[&str]) -> Result<(), CmdError> {
    let Some(strategy) = Strategy::parse(args[0]) else {
        bail!("unknown strategy '{}' (lazy, eager or prealloc)", Shown(args[0]));
    };
    crate::bench::pgd_bench::run(strategy)
}

/// `huge_bench <size> [rounds]` (the measurement is `bench::huge_bench`):
/// 2 MiB leaves against 4 KiB pages for one area size.
pub fn huge_bench(args: &[&str]) -> Result<(), CmdError> {
    let size = super::parse::parse_size(args[0])?;
    let rounds = args.get(1).map(|r| parse_u64(r)).transpose()?.unwrap_or(11);
    crate::bench::huge_bench::run(size, rounds)?;
    Ok(())
}
