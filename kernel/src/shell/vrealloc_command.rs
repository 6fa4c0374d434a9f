//! The `vrealloc` command: resize a vmalloc'd buffer, keeping its contents
//! (mm/vmalloc/vrealloc.rs), and say which way it was done.

use super::parse::parse_size;
use super::vm_commands::{area_as_it_is, parse_vaddr};
use super::CmdError;
use crate::mm::page::PAGE_SIZE;
use crate::mm::vmalloc::{self, Resized};
use crate::println;

/// `vrealloc <addr> <size>`
pub fn vrealloc(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_vaddr(args[0])?;
    let size = parse_size(args[1])?;
    let (now, how) = vmalloc::vrealloc(addr, size).map_err(CmdError::from_display)?;
    let said = match how {
        Resized::Freed => {
            println!("freed {:#x} (a new size of 0 frees the area, as in Linux)", addr.as_u64());
            return Ok(());
        }
        Resized::Allocated => "allocated (a null address means a new area, as in Linux)",
        Resized::SamePages => "same pages: only the requested size changed",
        Resized::ShrunkInPlace { .. } => "shrunk in place",
        Resized::GrownInPlace { .. } => "grown in place",
        Resized::Moved { .. } => "moved",
    };
    let (pages, guard) = area_as_it_is(now);
    println!("{:#x} ({pages} pages mapped, {} bytes, {guard}): {said}", now.as_u64(), pages * PAGE_SIZE);
    match how {
        Resized::ShrunkInPlace { pages_freed } => println!("  {pages_freed} pages unmapped and freed"),
        Resized::GrownInPlace { pages_added } => println!("  {pages_added} pages added in the free range after it"),
        Resized::Moved { from } => println!("  no room after {from:#x}: contents copied, old area freed"),
        _ => {}
    }
    Ok(())
}
