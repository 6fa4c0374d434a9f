//! Lab 3's mutants: typical bugs in the fault conditions of
//! `vmalloc_fault` and in the copy of the master's entry
//! (`aspace::sync_from_master`). The conditions no test can tell apart
//! are in `OUT_OF_REACH`.

use super::Mutant;

const ASPACE: &str = "kernel/src/mm/aspace.rs";
const FAULT: &str = "kernel/src/mm/fault/vmalloc_fault.rs";

pub(super) const MUTANTS: &[Mutant] = &[
    Mutant {
        bug: "vmalloc_fault: never calls sync (every lazy fault is an error)",
        file: FAULT,
        find: "kernel_not_present && in_vmalloc_area(addr) && aspace::sync_from_master(pgd_index(addr))",
        replace: "false && kernel_not_present && in_vmalloc_area(addr) && aspace::sync_from_master(pgd_index(addr))",
    },
    Mutant {
        bug: "vmalloc_fault: syncs the wrong top-level entry (pgd_index + 1)",
        file: FAULT,
        find: "aspace::sync_from_master(pgd_index(addr))",
        replace: "aspace::sync_from_master((pgd_index(addr) + 1) % 512)",
    },
    Mutant {
        bug: "vmalloc_fault: retries whatever sync answers (a real fault retried forever)",
        file: FAULT,
        find: "kernel_not_present && in_vmalloc_area(addr) && aspace::sync_from_master(pgd_index(addr))",
        replace: "kernel_not_present && in_vmalloc_area(addr) && (aspace::sync_from_master(pgd_index(addr)) || true)",
    },
    Mutant {
        bug: "sync: copies even when the current PGD has the entry (endless retry of a real fault)",
        file: ASPACE,
        find: "if master_t[index].is_unused() || !cur_t[index].is_unused() {",
        replace: "if master_t[index].is_unused() {",
    },
    Mutant {
        bug: "sync: copies an entry the master lacks (endless retry)",
        file: ASPACE,
        find: "if master_t[index].is_unused() || !cur_t[index].is_unused() {",
        replace: "if !cur_t[index].is_unused() {",
    },
    Mutant {
        bug: "sync: the global fault counter is not counted",
        file: ASPACE,
        find: "VMALLOC_FAULTS.fetch_add(1, Relaxed);",
        replace: "",
    },
    Mutant {
        bug: "sync: the address space's own fault counter is not counted",
        file: ASPACE,
        find: "slot.faults.fetch_add(1, Relaxed);",
        replace: "let _ = slot;",
    },
    Mutant {
        bug: "sync: nothing is copied, yet the access is retried",
        file: ASPACE,
        find: "cur_t[index] = master_t[index].clone();",
        replace: "",
    },
    Mutant {
        bug: "sync: the wrong entry is copied (the next one)",
        file: ASPACE,
        find: "cur_t[index] = master_t[index].clone();",
        replace: "cur_t[index] = master_t[(index + 1) % 512].clone();",
    },
];

/// Lessons no mutant can show (outside the regions, or equivalent).
pub(super) const OUT_OF_REACH: &[&str] = &[
    "user-mode faults: Mosaic runs no user code, so a sync of a USER_MODE fault cannot be provoked",
    "the retry itself and the fault report are in the page-fault handler, outside the regions",
    "the in_vmalloc_area and PROTECTION_VIOLATION tests are not seen: outside the vmalloc area every \
     address space has the master's entries, and a protection fault comes from a present entry, so \
     sync_from_master finds nothing to copy and the fault stays an error either way (equivalent mutants)",
];
