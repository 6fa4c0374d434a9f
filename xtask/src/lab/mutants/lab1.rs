//! Lab 1's mutants: typical bugs in the buddy allocator's split
//! (`Zone::alloc`) and merge (`Zone::free`).

use super::Mutant;

const ZONE: &str = "kernel/src/mm/page_alloc/zone.rs";

pub(super) const MUTANTS: &[Mutant] = &[
    Mutant {
        bug: "free: wrong buddy index (pfn + 2^order instead of pfn ^ 2^order)",
        file: ZONE,
        find: "let buddy = pfn ^ pages(order);",
        replace: "let buddy = pfn + pages(order);",
    },
    Mutant {
        bug: "free: no merge at all (the block goes back at its own order)",
        file: ZONE,
        find: "while order < MAX_ORDER {",
        replace: "while order < MAX_ORDER && pfn == u64::MAX {",
    },
    Mutant {
        bug: "free: merges with a free buddy of another order",
        file: ZONE,
        find: "!is_free_block(&map[buddy as usize], order)",
        replace: "map[buddy as usize].state != PageState::Free",
    },
    Mutant {
        bug: "free: free_pages counts one page, not 2^order",
        file: ZONE,
        find: "self.free_pages += pages(order);",
        replace: "self.free_pages += 1;",
    },
    Mutant {
        bug: "free: the absorbed head is not marked Tail",
        file: ZONE,
        find: "map[(pfn ^ buddy ^ merged) as usize].state = PageState::Tail;",
        replace: "let _ = merged;",
    },
    Mutant {
        bug: "free: the merged block keeps the freed block's head, not the lower one",
        file: ZONE,
        find: "let merged = pfn & buddy;",
        replace: "let merged = pfn;",
    },
    Mutant {
        bug: "free: merges past MAX_ORDER",
        file: ZONE,
        find: "while order < MAX_ORDER {",
        replace: "while order <= MAX_ORDER {",
    },
    Mutant {
        bug: "alloc: no split from a larger order (only the exact order's list)",
        file: ZONE,
        find: "(order..=MAX_ORDER).find(",
        replace: "(order..=order).find(",
    },
    Mutant {
        bug: "alloc: split puts every upper half at the same place",
        file: ZONE,
        find: "let buddy = pfn + pages(half);",
        replace: "let buddy = pfn + pages(order);",
    },
    Mutant {
        bug: "alloc: split keeps the upper halves (they are lost)",
        file: ZONE,
        find: "self.push(buddy, half, map);",
        replace: "let _ = buddy;",
    },
    Mutant {
        bug: "alloc: the block is not marked Allocated",
        file: ZONE,
        find: "head.state = PageState::Allocated;",
        replace: "",
    },
    Mutant {
        bug: "alloc: the block's order is not recorded",
        file: ZONE,
        find: "head.order = order as u8;",
        replace: "",
    },
    Mutant {
        bug: "alloc: free_pages counts one page, not 2^order",
        file: ZONE,
        find: "self.free_pages -= pages(order);",
        replace: "self.free_pages -= 1;",
    },
];

/// Everything lab 1 teaches is inside its two regions.
pub(super) const OUT_OF_REACH: &[&str] = &[];
