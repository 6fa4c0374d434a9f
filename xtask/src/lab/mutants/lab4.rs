//! Lab 4's mutants: typical bugs in `vmap`, `vunmap`, `ioremap_prot`,
//! `iounmap` and (the challenge) the O(log n) search of the tree.

use super::Mutant;

const VMALLOC: &str = "kernel/src/mm/vmalloc/vmap.rs";
const TREE: &str = "kernel/src/mm/vmap_area/free_tree.rs";

pub(super) const MUTANTS: &[Mutant] = &[
    Mutant {
        bug: "ioremap: uncached without WRITE_THROUGH (PCD alone)",
        file: VMALLOC,
        find: "flags |= Flags::NO_CACHE | Flags::WRITE_THROUGH;",
        replace: "flags |= Flags::NO_CACHE;",
    },
    Mutant {
        bug: "ioremap: cache modes swapped",
        file: VMALLOC,
        find: "if mode == CacheMode::Uncached {",
        replace: "if mode != CacheMode::Uncached {",
    },
    Mutant {
        bug: "ioremap: the offset into the page is dropped",
        file: VMALLOC,
        find: "Ok(start + offset)",
        replace: "Ok(start + offset * 0)",
    },
    Mutant {
        bug: "ioremap: the page count ignores the offset (last bytes unmapped)",
        file: VMALLOC,
        find: "let count = (offset + size).div_ceil(PAGE_SIZE);",
        replace: "let count = size.div_ceil(PAGE_SIZE);",
    },
    Mutant {
        bug: "ioremap: RAM is not refused",
        file: VMALLOC,
        find: "if let Some(ram) = overlapping_ram(phys, last) {",
        replace: "if let Some(ram) = overlapping_ram(phys, last).filter(|_| size == 0) {",
    },
    Mutant {
        bug: "vunmap: frees the caller's pages even without VM_MAP_PUT_PAGES",
        file: VMALLOC,
        find: "__vunmap(&area, put);",
        replace: "__vunmap(&area, true);",
    },
    Mutant {
        bug: "vunmap: never frees the pages, even with VM_MAP_PUT_PAGES",
        file: VMALLOC,
        find: "__vunmap(&area, put);",
        replace: "__vunmap(&area, false);",
    },
    Mutant {
        bug: "vmap: keeps no copy of the caller's pages (vunmap returns none)",
        file: VMALLOC,
        find: ".data.pages = pages;",
        replace: ".data.pages = PageList::new();\n        drop(pages);",
    },
    Mutant {
        bug: "iounmap: the address is not rounded down to its page",
        file: VMALLOC,
        find: "let start = addr.align_down(PAGE_SIZE).as_u64();",
        replace: "let start = addr.as_u64();",
    },
    Mutant {
        bug: "tree search: subtree_max_size is not trusted (an O(n) walk)",
        file: TREE,
        find: "let fits = |l: Link| self.max_size(l) >= size;",
        replace: "let fits = |l: Link| l.is_some() || self.max_size(l) >= size;",
    },
    Mutant {
        bug: "find_fit: only the lowest block is tried, never the tree",
        file: TREE,
        find: "first.or_else(|| self.lowest_fit(self.root, size, align))",
        replace: "first",
    },
];

/// Lessons no mutant can show (outside the regions, or equivalent).
pub(super) const OUT_OF_REACH: &[&str] = &[
    "the tree's insertion, merging and augmentation updates are outside the regions (only the search is the student's)",
];
