//! `cargo xtask viz`: pictures of the kernel's memory as SVG (issue 16,
//! docs/visual.md). From a saved state line (`--dump`), or from a kernel
//! booted here that runs `--commands` and is then asked for its maps;
//! `--docs` regenerates the pictures the documentation shows.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use xtask::qemu::Firmware;
use xtask::session::{Session, TestEnv};
use xtask::viz::{self, capture, model::State};

#[derive(Args)]
pub struct VizArgs {
    /// Draw this saved `mosaic-state` line (the file's last line) instead of booting
    #[arg(long, value_name = "FILE", conflicts_with_all = ["commands", "docs"])]
    dump: Option<PathBuf>,
    /// Commands to run before the pictures are taken, separated by `;`
    #[arg(long, default_value = "")]
    commands: String,
    /// Walk the page tables for this address (default: the last vmalloc area's start)
    #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
    addr: Option<u64>,
    /// Also write the state that was drawn to FILE (a line for --dump)
    #[arg(long, value_name = "FILE")]
    save_dump: Option<PathBuf>,
    /// Guest memory of the machine booted, e.g. 64M or 5G
    #[arg(long, short = 'm', default_value = "512M")]
    memory: String,
    /// Where the SVGs and index.html go
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Regenerate docs/pictures/ from one session per picture set
    #[arg(long)]
    docs: bool,
    /// With --docs: draw the hand-written fixtures instead of booting
    #[arg(long, requires = "docs")]
    fixtures: bool,
}

fn parse_addr(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    u64::from_str_radix(digits, 16).map_err(|_| format!("'{s}' is not a hex address like 0xffffc90000000000"))
}

pub fn run(args: VizArgs) -> Result<ExitCode> {
    if args.docs {
        return docs(args.fixtures);
    }
    let (state, line) = match &args.dump {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            let state = State::parse_last(&text).with_context(|| format!("{}", file.display()))?;
            (state, text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string())
        }
        None => boot_and_capture("viz", &args.memory, &capture::split_commands(&args.commands), args.addr)?,
    };
    if let Some(file) = &args.save_dump {
        std::fs::write(file, format!("{line}\n")).with_context(|| format!("cannot write {}", file.display()))?;
        println!("state: {}", file.display());
    }
    let out = args.out.unwrap_or_else(|| xtask::target_dir().join("viz"));
    for path in viz::write(&state, &out)? {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Boots the debug kernel (BIOS, `memory`), runs `commands`, takes the state.
fn boot_and_capture(name: &str, memory: &str, commands: &[String], addr: Option<u64>) -> Result<(State, String)> {
    let env = TestEnv::get()?;
    let mut machine = env.machine(Firmware::Bios);
    machine.memory = memory.to_string();
    let mut session = Session::start(name, &machine, env)?;
    session.expect("^Mosaic teaching kernel")?;
    session.wait_prompt()?;
    capture::capture(&mut session, commands, addr)
}

/// The documentation's pictures: a file stem, the commands of its session,
/// and which pictures it keeps. docs/visual.md lists where each is shown.
/// The sessions boot 64 MiB machines: 4 pages a cell, so one page of
/// difference can still show in the physical-memory picture.
const DOCS_MEMORY: &str = "64M";
const DOC_SETS: [(&str, &str, &[&str]); 3] = [
    ("boot", "", &["memmap", "buddyinfo"]),
    ("vmalloc", "vmalloc 20000", &["memmap", "vmalloc", "pagetable"]),
    (
        "fragmented",
        "vmalloc 20000; vmap 3; ioremap 0xfee00000 4096; alloc_pages 3; alloc_pages 0",
        &["memmap", "vmalloc", "pagetable", "buddyinfo"],
    ),
];

fn docs(fixtures: bool) -> Result<ExitCode> {
    let dir = xtask::root().join("docs").join("pictures");
    for (set, commands, keep) in DOC_SETS {
        let state = if fixtures {
            State::parse(fixture(set)).with_context(|| format!("fixture {set}"))?
        } else {
            boot_and_capture(&format!("viz-docs-{set}"), DOCS_MEMORY, &capture::split_commands(commands), None)?.0
        };
        write_set(&dir, set, keep, &state)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The hand-written fixture of a set (same names as DOC_SETS).
fn fixture(set: &str) -> &'static str {
    match set {
        "boot" => include_str!("../viz/testdata/boot.json"),
        "vmalloc" => include_str!("../viz/testdata/vmalloc.json"),
        _ => include_str!("../viz/testdata/fragmented.json"),
    }
}

fn write_set(dir: &Path, set: &str, keep: &[&str], state: &State) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for picture in viz::render(state).into_iter().filter(|p| keep.contains(&p.name)) {
        let path = dir.join(format!("{set}-{}.svg", picture.name));
        std::fs::write(&path, picture.svg).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
