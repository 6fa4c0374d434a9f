//! Course labs: which parts of the kernel each lab asks students to write,
//! and the student skeletons made from the reference source.
//!
//! The reference solution lives in the main code. Each piece a lab asks
//! for is a function body wrapped in two comment lines:
//!
//! ```text
//! pub fn free(&mut self, mut pfn: u64, mut order: usize, map: &mut [Page]) {
//!     // LAB 1 BEGIN: merge with the buddy (pfn ^ 2^order) while it is free and of the same order
//!     ...the reference code...
//!     // LAB 1 END
//! }
//! ```
//!
//! `cargo xtask lab export <lab> <dir>` copies the repository and replaces
//! the lines between the markers of that lab and every later one (with
//! `--only`, that lab alone) with `crate::lab_missing!(<lab>, "<function>")`,
//! which makes the kernel answer "lab 2: get_vm_area is not written yet"
//! instead of panicking (kernel/src/lab.rs). The markers stay, so students
//! can `grep -rn "LAB 2"` for what is left to do. Regions are looked for in
//! `kernel/` only.
//!
//! - `markers`: reading the `LAB n BEGIN/END` markers, stubbing and
//!   splicing region bodies (text in, text out)
//! - `export`: the repository's files, every region in the kernel, and the
//!   export of a skeleton
//! - `mutants`: each lab's catalogue of typical student bugs, as edits of
//!   the reference inside its regions (graded by `grade/mutants.rs`)
//!
//! This module knows nothing of grading: the grader (`grade/`) uses
//! it, never the other way round. `cargo xtask lab selftest`, the proof
//! that the labs work, is grading and lives in `grade/selftest.rs`.

mod export;
pub(crate) mod markers;
pub mod mutants;

pub use export::{all_regions, copy, export, repo_files, Stubs};
pub use markers::{regions, splice, stub, Region};

use anyhow::{Context, Result};

/// One lab of the course.
pub struct Lab {
    pub id: u32,
    pub slug: &'static str,
    pub title: &'static str,
    pub handout: &'static str,
}

pub const LABS: [Lab; 5] = [
    Lab { id: 1, slug: "buddy", title: "The buddy allocator: split and merge", handout: "docs/labs/lab1-buddy.md" },
    Lab { id: 2, slug: "vmalloc", title: "vmalloc: area, page tables, vfree", handout: "docs/labs/lab2-vmalloc.md" },
    Lab { id: 3, slug: "lazy-pgd", title: "The lazy vmalloc fault", handout: "docs/labs/lab3-lazy-pgd.md" },
    Lab {
        id: 4,
        slug: "vmap-ioremap",
        title: "vmap and ioremap; challenge: the O(log n) tree",
        handout: "docs/labs/lab4-vmap-ioremap.md",
    },
    Lab {
        id: 5,
        slug: "lazy-purge",
        title: "The lazy purge: one TLB flush for many vfrees",
        handout: "docs/labs/lab5-lazy-purge.md",
    },
];

/// Finds a lab by number (`2`), `lab2`, slug (`vmalloc`) or `lab2-vmalloc`.
pub fn find(name: &str) -> Result<&'static Lab> {
    let n = name.to_ascii_lowercase();
    let n = n.strip_prefix("lab").unwrap_or(&n);
    LABS.iter()
        .find(|l| n == l.id.to_string() || n == l.slug || n == format!("{}-{}", l.id, l.slug))
        .with_context(|| format!("no lab '{name}' (see `cargo xtask lab list`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labs_are_found_by_number_slug_or_both() {
        for name in ["2", "lab2", "vmalloc", "lab2-vmalloc", "LAB2"] {
            assert_eq!(find(name).unwrap().id, 2, "{name}");
        }
        assert_eq!(find("lazy-purge").unwrap().id, 5);
        assert!(find("6").is_err() && find("").is_err());
    }

    /// The real source: every lab has regions, and all markers are well
    /// formed (a broken marker would leave a solution in a skeleton).
    #[test]
    fn every_lab_has_regions_in_the_kernel() {
        let all = all_regions().unwrap();
        for lab in &LABS {
            assert!(all.iter().any(|r| r.lab == lab.id), "lab {} has no regions", lab.id);
        }
        assert!(all.iter().all(|r| LABS.iter().any(|l| l.id == r.lab)), "a region names an unknown lab");
    }
}
