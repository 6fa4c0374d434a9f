//! The `test_vmalloc` command's arguments: Linux's module parameters as
//! `name=value` words, over Linux's defaults (the benchmark itself is
//! `bench::test_vmalloc`).

use super::parse::{parse_u64, Shown};
use super::CmdError;
use crate::bail;
use crate::bench::test_vmalloc::{self, Params, INT_MAX, PARAM_NAMES};

/// `test_vmalloc [name=value]...` (names: `PARAM_NAMES`)
pub fn run(args: &[&str]) -> Result<(), CmdError> {
    test_vmalloc::run(&parse_params(args)?)
}

/// Where a parameter goes: a number, or a switch (0 or 1, as Linux's
/// `bool` module parameters take).
enum Field<'a> {
    Number(&'a mut u64),
    Switch(&'a mut bool),
}

/// The field of parameter `name` in `p`, and its slot for repeat checks.
fn field<'a>(p: &'a mut Params, name: &str) -> Option<(usize, Field<'a>)> {
    Some(match name {
        "run_test_mask" => (0, Field::Number(&mut p.run_test_mask)),
        "test_loop_count" => (1, Field::Number(&mut p.test_loop_count)),
        "test_repeat_count" => (2, Field::Number(&mut p.test_repeat_count)),
        "nr_pages" => (3, Field::Number(&mut p.nr_pages)),
        "busy_areas" => (4, Field::Number(&mut p.busy_areas)),
        "short_by" => (5, Field::Number(&mut p.short_by)),
        "use_huge" => (6, Field::Switch(&mut p.use_huge)),
        "nr_threads" => (7, Field::Number(&mut p.nr_threads)),
        "sequential_test_order" => (8, Field::Switch(&mut p.sequential_test_order)),
        "nr_pcpu_objects" => (9, Field::Number(&mut p.nr_pcpu_objects)),
        "summary_6_1" => (10, Field::Switch(&mut p.summary_6_1)),
        "plain_vmap" => (11, Field::Switch(&mut p.plain_vmap)),
        _ => return None,
    })
}

/// Reads `name=value` words over Linux's defaults. Refuses unknown names,
/// repeats, and values Linux would refuse or that cannot work here.
pub fn parse_params(args: &[&str]) -> Result<Params, CmdError> {
    let mut params = Params::default();
    let mut seen = [false; 12];
    for arg in args {
        let Some((name, value)) = arg.split_once('=') else {
            bail!("'{}' is not name=value (names: {PARAM_NAMES})", Shown(arg));
        };
        let Some((slot, field)) = field(&mut params, name) else {
            bail!("unknown parameter '{}' (names: {PARAM_NAMES})", Shown(name));
        };
        if seen[slot] {
            bail!("{name} given twice");
        }
        seen[slot] = true;
        let number = parse_u64(value).map_err(|e| CmdError::new(format_args!("{name}: {e}")))?;
        match field {
            Field::Number(_) if number > INT_MAX => {
                bail!("{name}={number} is larger than Linux's limit for it ({INT_MAX})")
            }
            Field::Number(n) => *n = number,
            Field::Switch(b) if number <= 1 => *b = number == 1,
            Field::Switch(_) => bail!("{name}={number}: it is a switch, 0 or 1"),
        }
    }
    test_vmalloc::check_params(&params)?;
    Ok(params)
}
