//! One module per `cargo xtask` subcommand: its arguments (clap) and the
//! glue from them to the work, which is in the `xtask` library (`lab`,
//! `grade`, `build`, `session`...) or, for what only this program needs,
//! in `bench/` and `console.rs`.

pub mod bench;
pub mod doctor;
pub mod fuzz;
pub mod gdb;
pub mod grade;
pub mod image;
pub mod lab;
pub mod run;
pub mod test;
pub mod viz;

use xtask::build::Profile;

/// The build profile for a `--release` flag.
fn profile(release: bool) -> Profile {
    if release {
        Profile::Release
    } else {
        Profile::Debug
    }
}
