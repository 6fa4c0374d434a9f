//! Placeholder: the port of Linux's lib/test_vmalloc.c is being written.

use crate::shell::CmdError;

pub fn run(_args: &[&str]) -> Result<(), CmdError> {
    crate::bail!("test_vmalloc is not implemented yet")
}
