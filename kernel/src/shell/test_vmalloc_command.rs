//! The `test_vmalloc` command's arguments: Linux's module parameters as
//! `name=value` words, over Linux's defaults (the benchmark itself is
//! `bench::test_vmalloc`).

use super::parse::{parse_u64, Shown};
use super::CmdError;
use crate::bail;
use crate::bench::test_vmalloc::{self, Params, INT_MAX, PARAM_NAMES};

/// `test_vmalloc [run_test_mask=N] [test_loop_count=N] [test_repeat_count=N] [nr_pages=N] [busy_areas=N] [short_by=N]`
pub fn run(args: &[&str]) -> Result<(), CmdError> {
    test_vmalloc::run(&parse_params(args)?)
}

/// Reads `name=value` words over Linux's defaults. Refuses unknown names,
/// repeats, and values Linux would refuse or that cannot work here.
pub fn parse_params(args: &[&str]) -> Result<Params, CmdError> {
    let mut params = Params::default();
    let mut seen = [false; 6];
    for arg in args {
        let Some((name, value)) = arg.split_once('=') else {
            bail!("'{}' is not name=value (names: {PARAM_NAMES})", Shown(arg));
        };
        let (slot, field) = match name {
            "run_test_mask" => (0, &mut params.run_test_mask),
            "test_loop_count" => (1, &mut params.test_loop_count),
            "test_repeat_count" => (2, &mut params.test_repeat_count),
            "nr_pages" => (3, &mut params.nr_pages),
            "busy_areas" => (4, &mut params.busy_areas),
            "short_by" => (5, &mut params.short_by),
            _ => bail!("unknown parameter '{}' (names: {PARAM_NAMES})", Shown(name)),
        };
        if seen[slot] {
            bail!("{name} given twice");
        }
        seen[slot] = true;
        let number = parse_u64(value).map_err(|e| CmdError::new(format_args!("{name}: {e}")))?;
        if number > INT_MAX {
            bail!("{name}={number} is larger than Linux's limit for it ({INT_MAX})");
        }
        *field = number;
    }
    test_vmalloc::check_params(&params)?;
    Ok(params)
}
