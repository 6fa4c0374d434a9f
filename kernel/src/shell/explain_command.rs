//! `explain <addr>`: what an address is, in words, from the memory
//! manager's records (mm/explain.rs does the work; a page-fault oops
//! prints the same text for CR2, see kernel/src/oops/).

use super::parse::parse_u64;
use super::CmdError;
use crate::mm::explain;
use crate::println;

/// `explain <addr>`: any 64-bit value, canonical or not.
pub fn explain(args: &[&str]) -> Result<(), CmdError> {
    let addr = parse_u64(args[0])?;
    println!("{addr:#x}: {}", explain::describe(addr));
    Ok(())
}
