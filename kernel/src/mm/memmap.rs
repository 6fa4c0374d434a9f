//! Pictures of memory as rows of characters: what each page frame is
//! (from `mem_map`), and how a run of pages becomes one character cell.
//!
//! Pure logic over `mem_map` and over runs of (kind, pages), so it is
//! tested on the host; the shell's `memmap` and `vmmap` commands
//! (shell/map_commands.rs) print what it computes, and docs/visual.md
//! describes the characters. Nothing here allocates: the pictures must
//! work when memory is what ran out.
//!
//! A page's kind comes from its block (Gorman ch. 6: only the head of a
//! buddy block says what the block is): a free block by its order, an
//! allocated block by the owner its allocator recorded (`PageOwner`), a
//! reserved frame by what memblock found it to be (Gorman ch. 5).

use super::page::{pages, Page, PageOwner, PageState, MAX_ORDER};
use core::ops::Range;

/// Kinds of page, as indexes into `CODES`; a tie between kinds in a cell
/// goes to the one listed first. 0..=10 are free blocks of that order.
pub const PCP: u8 = 11;
pub const KERNEL: u8 = 12;
pub const MEM_MAP: u8 = 13;
pub const PAGE_TABLE: u8 = 14;
pub const SLAB: u8 = 15;
pub const VMALLOC: u8 = 16;
pub const SHELL: u8 = 17;
pub const OTHER: u8 = 18;
pub const RESERVED: u8 = 19;
pub const HOLE: u8 = 20;
/// Number of page kinds.
pub const KINDS: usize = 21;
/// The character of each kind (docs/visual.md has the legend).
pub const CODES: &[u8; KINDS] = b"0123456789apKMTSVUXR.";

/// The kind of every page of a block whose head is `head`.
fn head_kind(head: &Page) -> u8 {
    match (head.state, head.owner) {
        (PageState::Free, _) => head.order.min(MAX_ORDER as u8),
        (PageState::Pcp, _) => PCP,
        (PageState::Allocated, PageOwner::PageTable) => PAGE_TABLE,
        (PageState::Allocated, PageOwner::Slab) => SLAB,
        (PageState::Allocated, PageOwner::Vmalloc) => VMALLOC,
        (PageState::Allocated, PageOwner::Shell) => SHELL,
        (PageState::Allocated, _) => OTHER,
        (_, PageOwner::Kernel) => KERNEL,
        (_, PageOwner::MemMap) => MEM_MAP,
        (_, PageOwner::Hole) => HOLE,
        _ => RESERVED,
    }
}

/// The block frame `pfn` lies in: (head, kind, pages in the block). Free
/// and allocated blocks are as long as their order says; other frames
/// stand alone. A tail whose head cannot be found (a corrupted map) is
/// shown as a single page of `OTHER`.
fn block_at(map: &[Page], pfn: u64) -> (u64, u8, u64) {
    let page = &map[pfn as usize];
    match page.state {
        PageState::Free | PageState::Allocated => (pfn, head_kind(page), pages(page.order as usize)),
        PageState::Tail => (1..=MAX_ORDER)
            .map(|order| pfn & !(pages(order) - 1))
            .find_map(|head| {
                let h = &map[head as usize];
                let len = pages(h.order as usize);
                let block = matches!(h.state, PageState::Free | PageState::Allocated) && head + len > pfn;
                block.then_some((head, head_kind(h), len))
            })
            .unwrap_or((pfn, OTHER, 1)),
        _ => (pfn, head_kind(page), 1),
    }
}

/// Runs of pages of one kind over a PFN range of `mem_map`, in order:
/// (kind, pages). Whole blocks are stepped over at once, so a machine
/// of mostly free memory costs a few steps per 4 MiB.
pub struct Runs<'a> {
    map: &'a [Page],
    pfn: u64,
    end: u64,
}

/// The runs of `pfns` (clipped to `mem_map`).
pub fn runs(map: &[Page], pfns: Range<u64>) -> Runs<'_> {
    let end = pfns.end.min(map.len() as u64);
    Runs { map, pfn: pfns.start.min(end), end }
}

impl Iterator for Runs<'_> {
    type Item = (u8, u64);

    fn next(&mut self) -> Option<(u8, u64)> {
        let start = self.pfn;
        let mut kind = None;
        while self.pfn < self.end {
            let (head, k, len) = block_at(self.map, self.pfn);
            if kind.is_some_and(|first| first != k) {
                break;
            }
            kind = Some(k);
            self.pfn = (head + len).min(self.end);
        }
        kind.map(|k| (k, self.pfn - start))
    }
}

/// Pages of each kind in `pfns`.
pub fn totals(map: &[Page], pfns: Range<u64>) -> [u64; KINDS] {
    let mut sums = [0; KINDS];
    runs(map, pfns).for_each(|(kind, n)| sums[kind as usize] += n);
    sums
}

/// The kind with the most pages in `counts`; ties go to the lowest index.
pub fn dominant<const K: usize>(counts: &[u64; K]) -> u8 {
    let mut best = 0;
    for (i, &n) in counts.iter().enumerate() {
        if n > counts[best] {
            best = i;
        }
    }
    best as u8
}

/// Turns runs of (kind, pages) into cells of `per_cell` pages each: a
/// cell shows its dominant kind. `K` is the number of kinds.
pub struct Grid<const K: usize> {
    per_cell: u64,
    counts: [u64; K],
    filled: u64,
}

impl<const K: usize> Grid<K> {
    /// A grid of cells of `per_cell` pages (at least 1).
    pub fn new(per_cell: u64) -> Self {
        Grid { per_cell: per_cell.max(1), counts: [0; K], filled: 0 }
    }

    /// Adds `n` pages of `kind`, calling `emit` with the kind of every
    /// cell this completes. A run covering whole cells emits them
    /// without counting page by page.
    pub fn feed(&mut self, kind: u8, mut n: u64, emit: &mut impl FnMut(u8)) {
        while n > 0 {
            if self.filled == 0 && n >= self.per_cell {
                let whole = n / self.per_cell;
                (0..whole).for_each(|_| emit(kind));
                n -= whole * self.per_cell;
                continue;
            }
            let take = n.min(self.per_cell - self.filled);
            self.counts[kind as usize] += take;
            self.filled += take;
            n -= take;
            if self.filled == self.per_cell {
                self.flush(emit);
            }
        }
    }

    /// Emits the last, partly filled cell, if there is one.
    pub fn finish(&mut self, emit: &mut impl FnMut(u8)) {
        if self.filled > 0 {
            self.flush(emit);
        }
    }

    fn flush(&mut self, emit: &mut impl FnMut(u8)) {
        emit(dominant(&self.counts));
        self.counts = [0; K];
        self.filled = 0;
    }
}

/// Most rows a text map draws (at the scale `text_scale` picks).
pub const MAX_ROWS: u64 = 16;

/// Pages per cell for a text map of `total` pages, `width` cells a row:
/// the smallest power of two (so cells line up with buddy blocks) that
/// keeps the map within `MAX_ROWS` rows.
pub fn text_scale(total: u64, width: u64) -> u64 {
    total.div_ceil(width.max(1) * MAX_ROWS).max(1).next_power_of_two()
}

/// Pages per cell when `cells` cells are asked for `total` pages (the
/// json form): enough that no more than `cells` cells are needed.
pub fn json_scale(total: u64, cells: u64) -> u64 {
    total.div_ceil(cells.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::page::NIL;
    use std::vec::Vec;

    fn page(state: PageState, order: u8, owner: PageOwner) -> Page {
        Page { state, order, zone: 0, owner, prev: NIL, next: NIL }
    }

    /// Cells of a run list as a string, at `per_cell` pages a cell.
    fn cells(runs: &[(u8, u64)], per_cell: u64) -> String {
        let mut out = Vec::new();
        let mut grid = Grid::<KINDS>::new(per_cell);
        let mut emit = |k: u8| out.push(CODES[k as usize]);
        for &(k, n) in runs {
            grid.feed(k, n, &mut emit);
        }
        grid.finish(&mut emit);
        String::from_utf8(out).unwrap()
    }

    /// A map: a reserved kernel page, a free order-1 block, a shell
    /// order-2 block (head + 3 tails), a pcp page, a hole.
    fn sample() -> Vec<Page> {
        let tail = page(PageState::Tail, 0, PageOwner::Other);
        let mut map = vec![page(PageState::Reserved, 0, PageOwner::Kernel)];
        map.push(page(PageState::Free, 0, PageOwner::Other));
        map.extend([page(PageState::Free, 1, PageOwner::Other), tail]);
        map.extend([page(PageState::Allocated, 2, PageOwner::Shell), tail, tail, tail]);
        map.push(page(PageState::Pcp, 0, PageOwner::Other));
        map.push(page(PageState::Reserved, 0, PageOwner::Hole));
        map
    }

    #[test]
    fn runs_follow_blocks_and_merge_equal_kinds() {
        let map = sample();
        let got: Vec<_> = runs(&map, 0..map.len() as u64).collect();
        assert_eq!(got, [(KERNEL, 1), (0, 1), (1, 2), (SHELL, 4), (PCP, 1), (HOLE, 1)]);
        // Starting inside a block counts only the pages from there on.
        let got: Vec<_> = runs(&map, 5..7).collect();
        assert_eq!(got, [(SHELL, 2)]);
        assert_eq!(totals(&map, 0..100)[SHELL as usize], 4);
    }

    #[test]
    fn one_page_per_cell_draws_every_page() {
        let map = sample();
        let mut grid_runs = Vec::new();
        grid_runs.extend(runs(&map, 0..map.len() as u64));
        assert_eq!(cells(&grid_runs, 1), "K011UUUUp.");
    }

    #[test]
    fn the_dominant_kind_wins_and_ties_go_to_the_first() {
        assert_eq!(cells(&[(SHELL, 3), (SLAB, 1)], 4), "U");
        assert_eq!(cells(&[(SHELL, 2), (SLAB, 2)], 4), "S");
        assert_eq!(cells(&[(HOLE, 2), (3, 2)], 4), "3");
        assert_eq!(dominant(&[0u64, 0, 0]), 0);
    }

    #[test]
    fn runs_split_across_cells_and_whole_cells_pass_at_once() {
        assert_eq!(cells(&[(10, 1024 * 3)], 1024), "aaa");
        assert_eq!(cells(&[(0, 3), (10, 7), (SLAB, 2)], 4), "0aa");
        assert_eq!(cells(&[(0, 3), (10, 5), (SLAB, 3)], 4), "0aS");
        // The last cell holds only the pages there are.
        assert_eq!(cells(&[(KERNEL, 5)], 4), "KK");
        assert_eq!(cells(&[], 4), "");
    }

    #[test]
    fn scales() {
        assert_eq!(text_scale(32768, 64), 32);
        assert_eq!(text_scale(4096, 64), 4);
        assert_eq!(text_scale(100, 64), 1);
        assert_eq!(text_scale(0, 64), 1);
        assert_eq!(text_scale(4 << 20, 64), 4096);
        assert_eq!(json_scale(32768, 4096), 8);
        assert_eq!(json_scale(32768, 1 << 20), 1);
        assert_eq!(json_scale(10, 3), 4);
    }

    #[test]
    fn a_broken_tail_is_one_page_of_other() {
        let map = vec![page(PageState::Tail, 0, PageOwner::Other), page(PageState::Tail, 0, PageOwner::Other)];
        let got: Vec<_> = runs(&map, 0..2).collect();
        assert_eq!(got, [(OTHER, 2)]);
    }
}
