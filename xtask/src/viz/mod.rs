//! Pictures of the kernel's memory (issue 16, docs/visual.md): the JSON
//! that `memmap json`, `vmmap json` and `pt <vaddr> json` print, and the
//! `mosaic-state` line the kernel writes to COM2 with `view=on`, drawn as
//! SVG with the `svg` crate.
//!
//! - `model`: the JSON, read and checked
//! - `memmap`, `vmalloc`, `pagetable`, `buddyinfo`: one picture each
//! - `page`: the HTML page around them (a static index.html, or the live page)
//! - `capture`: a state taken from a scripted session (`cargo xtask viz`)
//! - `live`: the live view's HTTP server and COM2 reader (`cargo xtask run --view`)
//! - `events`: a client of its event stream (`cargo xtask bench --part view`)

pub mod buddyinfo;
pub mod capture;
pub mod events;
pub mod live;
pub mod memmap;
pub mod model;
pub mod page;
pub mod pagetable;
mod style;
pub mod vmalloc;

use anyhow::{Context, Result};
use model::State;
use std::path::{Path, PathBuf};

/// One rendered picture.
#[derive(Clone, Debug)]
pub struct Picture {
    /// File stem and element id: `memmap`, `vmalloc`, `pagetable`, `buddyinfo`.
    pub name: &'static str,
    pub caption: &'static str,
    pub svg: String,
}

/// The four pictures of a state, in the order the page shows them.
pub fn render(state: &State) -> Vec<Picture> {
    vec![
        Picture {
            name: "memmap",
            caption: "Physical memory by owner and free order",
            svg: memmap::render(&state.memmap).to_string(),
        },
        Picture {
            name: "vmalloc",
            caption: "The vmalloc area, each area with its caller",
            svg: vmalloc::render(&state.vmmap).to_string(),
        },
        Picture {
            name: "pagetable",
            caption: "The page-table walk of the last vmalloc area",
            svg: pagetable::render(state.pt.as_ref()).to_string(),
        },
        Picture {
            name: "buddyinfo",
            caption: "Free blocks per order and zone",
            svg: buddyinfo::render(&state.memmap.zones).to_string(),
        },
    ]
}

/// Writes `<name>.svg` for each picture and an index.html showing them
/// all; returns the paths written.
pub fn write(state: &State, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let pictures = render(state);
    let mut written = Vec::new();
    for p in &pictures {
        let path = dir.join(format!("{}.svg", p.name));
        std::fs::write(&path, &p.svg).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    let index = dir.join("index.html");
    std::fs::write(&index, page::static_page(state, &pictures))
        .with_context(|| format!("cannot write {}", index.display()))?;
    written.push(index);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-written dumps per docs/visual.md (the contract), small enough
    /// to read: see testdata/README.md.
    pub const FIXTURES: [(&str, &str); 3] = [
        ("boot", include_str!("testdata/boot.json")),
        ("vmalloc", include_str!("testdata/vmalloc.json")),
        ("fragmented", include_str!("testdata/fragmented.json")),
    ];

    /// Renders every fixture and compares with testdata/golden/; with
    /// `MOSAIC_BLESS=1` writes the golden files instead (then look at
    /// them, and commit them with the change that moved them).
    #[test]
    fn pictures_match_the_golden_files() {
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/viz/testdata/golden");
        let bless = std::env::var_os("MOSAIC_BLESS").is_some();
        let mut differ = Vec::new();
        for (fixture, text) in FIXTURES {
            let state = State::parse(text).unwrap_or_else(|e| panic!("{fixture}: {e}"));
            for p in render(&state) {
                let path = golden.join(format!("{fixture}-{}.svg", p.name));
                if bless {
                    std::fs::create_dir_all(&golden).unwrap();
                    std::fs::write(&path, &p.svg).unwrap();
                } else if std::fs::read_to_string(&path).ok().as_deref() != Some(p.svg.as_str()) {
                    differ.push(path.display().to_string());
                }
            }
        }
        assert!(
            differ.is_empty(),
            "pictures differ from (or lack) golden files; MOSAIC_BLESS=1 rewrites them: {differ:?}"
        );
    }

    #[test]
    fn a_new_area_and_its_frames_show() {
        let before = State::parse(FIXTURES[0].1).unwrap();
        let after = State::parse(FIXTURES[1].1).unwrap();
        let count = |svg: &str, needle: &str| svg.matches(needle).count();
        let (b, a) = (render(&before), render(&after));
        assert_eq!(count(&b[1].svg, "class=\"area\""), 0);
        assert_eq!(count(&a[1].svg, "class=\"area\""), 1);
        assert!(a[1].svg.contains("data-caller=\"kernel/src/shell/vm_commands.rs:28\""));
        assert!(!b[0].svg.contains("data-code=\"V\"") && a[0].svg.contains("data-code=\"V\""));
        assert!(a[2].svg.contains("data-level=\"PTE\"") && b[2].svg.contains("No page-table walk"));
    }

    /// A line the kernel itself printed (wt-viz-kernel, 512 MiB, after
    /// `vmalloc 20000; alloc_pages 3`): the renderer reads what the kernel
    /// writes, not only what the fixtures say it writes.
    #[test]
    fn a_real_kernel_state_draws() {
        let state = State::parse_last(include_str!("testdata/kernel-512m.json")).unwrap();
        assert_eq!((state.memmap.cells_count, state.memmap.pages_per_cell), (4095, 32));
        let pictures = render(&state);
        assert_eq!(pictures[1].svg.matches("class=\"area\"").count(), 1);
        assert!(pictures[1].svg.contains("data-caller=\"kernel/src/shell/vm_commands.rs:"));
        assert_eq!(pictures[2].svg.matches("class=\"level\"").count(), 4);
        assert!(pictures[3].svg.contains("data-zone=\"DMA32\""));
    }

    #[test]
    fn write_makes_the_files_and_the_index() {
        let dir = std::env::temp_dir().join(format!("mosaic-viz-test-{}", std::process::id()));
        let state = State::parse(FIXTURES[1].1).unwrap();
        let written = write(&state, &dir).unwrap();
        assert_eq!(written.len(), 5);
        let index = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert!(index.contains("<svg") && index.contains("vmalloc 20000"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
