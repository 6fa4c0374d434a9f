//! Lab 5's mutants: typical bugs in the purge list's bookkeeping
//! (`PurgeList::push`, `due`, `purge`, `make_room`) and in the lazy free
//! itself (`free_noflush`).

use super::Mutant;

const LIST: &str = "kernel/src/mm/vmap_purge/mod.rs";
const FREE: &str = "kernel/src/mm/vmalloc/purge.rs";

pub(super) const MUTANTS: &[Mutant] = &[
    Mutant {
        bug: "free_noflush: the PTEs are not cleared (the lazy free only defers)",
        file: FREE,
        find: "pgtable::vunmap_range_noflush(VirtAddr::new(addr), nr_pages);",
        replace: "",
    },
    Mutant {
        bug: "purge: gives the ranges back but never flushes the TLB",
        file: LIST,
        find: "flush(low, flush_pages);",
        replace: "let _ = low;",
    },
    Mutant {
        bug: "purge: flushes only the first range on the list, not the span",
        file: LIST,
        find: "flush(low, flush_pages);",
        replace: "flush(self.list[0].start, self.list[0].pages);",
    },
    Mutant {
        bug: "purge: the span runs from the first range freed to the end of the last one freed",
        file: LIST,
        find: "let Some(low) = self.list.iter().map(|l| l.start).min() else { return Purged::default() };",
        replace: "let Some(low) = self.list.first().map(|l| l.start) else { return Purged::default() };",
    },
    Mutant {
        bug: "purge: lazy_nr is not reset (every later free purges)",
        file: LIST,
        find: "self.lazy_nr = 0;",
        replace: "",
    },
    Mutant {
        bug: "purge: the list is kept after the ranges went back",
        file: LIST,
        find: "self.list = Vec::new();",
        replace: "",
    },
    Mutant {
        bug: "push: the pages are not counted in lazy_nr (no purge is ever due)",
        file: LIST,
        find: "self.lazy_nr += pages;",
        replace: "",
    },
    Mutant {
        bug: "due: at the limit already, not only past it",
        file: LIST,
        find: "self.lazy_nr > self.max_pages",
        replace: "self.lazy_nr >= self.max_pages",
    },
    Mutant {
        bug: "due: never true (only make_room and `purge` ever purge)",
        file: LIST,
        find: "self.lazy_nr > self.max_pages",
        replace: "self.lazy_nr > u64::MAX",
    },
    Mutant {
        bug: "make_room: purges whenever ranges wait, even if the request fits",
        file: LIST,
        find: "if self.is_empty() || fits(areas, size, align) {",
        replace: "if self.is_empty() {",
    },
    Mutant {
        bug: "make_room: never purges (an allocation fails while freed ranges wait)",
        file: LIST,
        find: "Some(self.purge(areas, flush))",
        replace: "let _ = (areas, flush);\n        None",
    },
    Mutant {
        bug: "free_noflush: the area is not marked VM_LAZY_FREE (a double free is taken)",
        file: FREE,
        find: "vm.flags = VM_LAZY_FREE;",
        replace: "",
    },
    Mutant {
        bug: "free_noflush: a due purge is not started (only the limit's lesson lost)",
        file: FREE,
        find: "if list.push(addr, nr_pages) {",
        replace: "if list.push(addr, nr_pages) && false {",
    },
];

/// Lessons no mutant can show (outside the regions, or equivalent).
pub(super) const OUT_OF_REACH: &[&str] = &[
    "reserving room on the list before the free (`reserve`) and the eager fallback are outside the regions",
    "`fits`, the alignment-aware room test, is given: make_room only has to call it",
    "retire's record for fault reports: no graded test reads which freed area a fault names",
];
