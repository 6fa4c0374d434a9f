//! One module per `cargo xtask` subcommand: its arguments (clap) and the
//! glue from them to the work, which is in the `xtask` library.

pub mod grade;
pub mod lab;
