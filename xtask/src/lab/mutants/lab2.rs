//! Lab 2's mutants: typical bugs in `get_vm_area`, the list's first fit,
//! the page-table walk (`vmalloc_area_pages` and its per-level helpers),
//! the rollback of `__vmalloc_area_node`, the TLB flush of `vunmap_range`,
//! `vfree` and `__vunmap`.

use super::Mutant;

const VMALLOC: &str = "kernel/src/mm/vmalloc/mod.rs";
const PGTABLE: &str = "kernel/src/mm/pgtable.rs";
const LIST: &str = "kernel/src/mm/vmap_area/list.rs";

pub(super) const MUTANTS: &[Mutant] = &[
    // The three the labs issue found scoring 100/100.
    Mutant {
        bug: "get_vm_area: ignores the caller's alignment",
        file: VMALLOC,
        find: "align.max(PAGE_SIZE)",
        replace: "PAGE_SIZE.max(align & 0)",
    },
    Mutant {
        bug: "walk: a failed PMD-table allocation is skipped (Ok with holes)",
        file: PGTABLE,
        find: "let pmd = table_or_alloc(&mut pud[pud_index(addr)])?;",
        replace: "let Ok(pmd) = table_or_alloc(&mut pud[pud_index(addr)]) else {\n            addr = next;\n            continue;\n        };",
    },
    Mutant {
        bug: "walk: a new top-level entry is not announced (no on_new_master_entry)",
        file: PGTABLE,
        find: "on_new_master_entry(index);",
        replace: "let _ = index;",
    },
    Mutant {
        bug: "walk: a failed PTE-table allocation is skipped (Ok with holes)",
        file: PGTABLE,
        find: "let pte = table_or_alloc(&mut pmd[pmd_index(addr)])?;",
        replace: "let Ok(pte) = table_or_alloc(&mut pmd[pmd_index(addr)]) else {\n            addr = next;\n            continue;\n        };",
    },
    Mutant {
        bug: "rollback: the range is kept when the pages cannot be had",
        file: VMALLOC,
        find: "Err(e) => {\n            v.areas.remove(start.as_u64());\n            return Err(e);\n        }",
        replace: "Err(e) => return Err(e),",
    },
    Mutant {
        bug: "rollback: the pages are kept when the mapping fails",
        file: VMALLOC,
        find: "free_pages_array(&pages);\n        v.areas.remove(start.as_u64());",
        replace: "v.areas.remove(start.as_u64());",
    },
    Mutant {
        bug: "rollback: the range is kept when the mapping fails",
        file: VMALLOC,
        find: "free_pages_array(&pages);\n        v.areas.remove(start.as_u64());\n        return Err(e.into());",
        replace: "free_pages_array(&pages);\n        return Err(e.into());",
    },
    Mutant {
        bug: "vunmap_range: the TLB is not flushed (stale translations)",
        file: PGTABLE,
        find: "flush_tlb_kernel_range(start, pages);",
        replace: "let _ = (start, pages);",
    },
    Mutant {
        bug: "flush_tlb_kernel_range: only the first page is invalidated",
        file: PGTABLE,
        find: "for i in 0..pages {",
        replace: "for i in 0..pages.min(1) {",
    },
    Mutant {
        bug: "flush_tlb_kernel_range: nothing is flushed above the ceiling",
        file: PGTABLE,
        find: "flush_tlb_all();",
        replace: "",
    },
    Mutant {
        bug: "get_vm_area: size rounded down, not up, to pages",
        file: VMALLOC,
        find: "let pages = size.div_ceil(PAGE_SIZE);",
        replace: "let pages = (size / PAGE_SIZE).max(1);",
    },
    Mutant {
        bug: "get_vm_area: no guard page",
        file: VMALLOC,
        find: "pages.checked_add(1)",
        replace: "pages.checked_add(0)",
    },
    Mutant {
        bug: "first fit: the holes between areas are never tried",
        file: LIST,
        find: "fit_in(hole_start..area.start, size, align)",
        replace: "fit_in(hole_start..hole_start, size, align)",
    },
    Mutant {
        bug: "first fit: a hole starts at the area's start, not its end (overlap)",
        file: LIST,
        find: "hole_start = area.end();",
        replace: "hole_start = area.start;",
    },
    Mutant {
        bug: "first fit: the new area is inserted after the hole's area (list unsorted)",
        file: LIST,
        find: "return Some((i, start));",
        replace: "return Some((i + 1, start));",
    },
    Mutant {
        bug: "walk: a used PTE is overwritten (no AlreadyMapped)",
        file: PGTABLE,
        find: "if !entry.is_unused() {",
        replace: "if entry.is_unused() && addr == 0 {",
    },
    Mutant {
        bug: "walk: PTEs without NX",
        file: PGTABLE,
        find: "entry.set_frame(frame, flags);",
        replace: "entry.set_frame(frame, flags & !Flags::NO_EXECUTE);",
    },
    Mutant {
        bug: "walk: PTEs without GLOBAL",
        file: PGTABLE,
        find: "entry.set_frame(frame, flags);",
        replace: "entry.set_frame(frame, flags & !Flags::GLOBAL);",
    },
    Mutant {
        bug: "vfree: the vmalloc page count is not decreased",
        file: VMALLOC,
        find: "v.vmalloc_pages -= area.data.nr_pages;",
        replace: "",
    },
    Mutant {
        bug: "__vunmap: the pages are never freed",
        file: VMALLOC,
        find: "free_pages_array(&area.data.pages);",
        replace: "",
    },
    Mutant {
        bug: "__vunmap: the PTEs are not cleared",
        file: VMALLOC,
        find: "pgtable::vunmap_range(VirtAddr::new(area.start), area.data.nr_pages);",
        replace: "",
    },
    Mutant {
        bug: "vfree: a null address is an error",
        file: VMALLOC,
        find: "if addr.is_null() {\n        return Ok(());\n    }",
        replace: "",
    },
];

/// Lessons no mutant can show (outside the regions, or equivalent).
pub(super) const OUT_OF_REACH: &[&str] = &[
    "allocating the data pages (vm_area_alloc_pages) and their zone are outside the regions",
    "the partial-mapping cleanup of vmap_pages_range (clearing what the walk mapped, giving back its new tables) \
     is outside the regions; the student's rollback gives back the pages and the range",
];
