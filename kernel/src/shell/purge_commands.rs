//! Shell commands for the lazy purge of vfree (mm/vmalloc/purge.rs):
//! `purge`, and `vfree eager|lazy [max-pages]`, which `vfree <addr>`
//! hands on to here.

use super::parse::{parse_u64, Shown};
use super::CmdError;
use crate::mm::vmalloc::{self, VfreeStrategy};
use crate::mm::vmap_purge::Purged;
use crate::{bail, println};

/// The most `lazy_max_pages` can be set to: 4 GiB worth of pages.
const MAX_LAZY_PAGES: u64 = 1 << 20;

/// `purge`: flushes and gives back every lazily freed range now.
pub fn purge(_: &[&str]) -> Result<(), CmdError> {
    say("purge", vmalloc::purge_vmap_area_lazy());
    Ok(())
}

/// `vfree eager|lazy [max-pages]`: switches the strategy (going eager
/// purges first), and sets `lazy_max_pages` (0: Linux's value).
pub fn set_strategy(strategy: VfreeStrategy, max: Option<&str>) -> Result<(), CmdError> {
    let max = max.map(parse_u64).transpose()?;
    match (strategy, max) {
        (VfreeStrategy::Eager, Some(_)) => bail!("usage: vfree eager (max-pages goes with lazy)"),
        (_, Some(m)) if m > MAX_LAZY_PAGES => bail!("max-pages must be at most {MAX_LAZY_PAGES}, not {m}"),
        (_, Some(m)) => {
            vmalloc::set_lazy_max_pages(m);
        }
        _ => {}
    }
    let purged = vmalloc::set_vfree_strategy(strategy);
    if purged.areas > 0 {
        say("purged first", purged);
    }
    let s = vmalloc::lazy_stats();
    println!(
        "vfree: {} (lazy_max_pages {}, {} pages in {} areas waiting for the purge)",
        s.strategy.name(),
        s.max_pages,
        s.lazy_pages,
        s.unpurged
    );
    Ok(())
}

/// `vfree <word>` for a word that is not an address: a strategy, or an
/// error naming both forms.
pub fn strategy_word(args: &[&str]) -> Option<Result<(), CmdError>> {
    let strategy = VfreeStrategy::parse(args[0])?;
    Some(set_strategy(strategy, args.get(1).copied()))
}

/// The error for `vfree <junk>`.
pub fn bad_word(word: &str) -> CmdError {
    CmdError::new(format_args!("'{}' is neither an address nor a strategy (eager or lazy)", Shown(word)))
}

fn say(what: &str, p: Purged) {
    if p.areas == 0 {
        println!("{what}: nothing to purge");
        return;
    }
    println!(
        "{what}: {} areas ({} pages) given back after one TLB flush of {} pages from {:#x}",
        p.areas, p.pages, p.flush_pages, p.flush_start
    );
}
