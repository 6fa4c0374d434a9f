//! The two test_vmalloc cases Linux added after 6.1 (bits 11 and 12 of
//! `run_test_mask`), reimplemented for the driver in bench/test_vmalloc.rs.

use super::{alloc, each_loop, fail, free, touch, Ctx, Failure, Outcome, Step};
use crate::mm::page::PAGE_SIZE;
use crate::mm::vmalloc;
use x86_64::instructions::interrupts::without_interrupts;
use x86_64::VirtAddr;

/// no_block_alloc_test: nr_pages pages (at least 1) allocated where the
/// caller may not sleep, touched and freed. Linux disables preemption and
/// asks with GFP_ATOMIC or GFP_NOWAIT at random, to catch a path that
/// sleeps anyway. Mosaic's vmalloc never sleeps and has no GFP flags, so
/// both draws are the same call, made with interrupts off (the closest
/// thing to atomic context on one CPU). Its time, against
/// fix_size_alloc_test's, is the cost of that context.
pub(super) fn no_block_alloc_test(ctx: &mut Ctx) -> Outcome {
    let pages = ctx.nr_pages.max(1);
    each_loop(ctx, |_| {
        let p = without_interrupts(|| alloc(pages))?;
        touch(p, 0);
        free(p)
    })
}

/// The sizes vrealloc_test walks a buffer through, as Linux does: grow
/// past the page it has, shrink back to one page, shrink within it, and
/// grow within it again.
const VREALLOC_STEPS: [u64; 4] = [4 * PAGE_SIZE, PAGE_SIZE, PAGE_SIZE / 2, PAGE_SIZE];

/// vrealloc_test: a one-page buffer from `vrealloc(NULL, ..)`, its first
/// byte written, then resized through `VREALLOC_STEPS`; the byte must
/// survive each step. Which way each step goes (in place or moved) is
/// Mosaic's own; Linux 6.12 moves on every growth past the pages it has.
pub(super) fn vrealloc_test(ctx: &mut Ctx) -> Outcome {
    each_loop(ctx, |_| {
        let (mut p, _) = vrealloc(VirtAddr::zero(), PAGE_SIZE)?;
        touch(p, b'a');
        for size in VREALLOC_STEPS {
            p = match vrealloc(p, size) {
                Ok((now, _)) => now,
                Err(f) => return free(p).and(Err(f)),
            };
            // SAFETY: `p` starts a live area of at least `size` bytes.
            if unsafe { p.as_ptr::<u8>().read_volatile() } != b'a' {
                free(p)?;
                return Err(Failure { step: Step::Contents { size }, error: None });
            }
        }
        free(p)
    })
}

fn vrealloc(p: VirtAddr, size: u64) -> Result<(VirtAddr, vmalloc::Resized), Failure> {
    vmalloc::vrealloc(p, size).map_err(fail(Step::Vrealloc { size }))
}
