//! A state taken from a scripted session, for `cargo xtask viz` and the
//! docs' pictures: type the commands, then ask the kernel for `memmap
//! json`, `vmmap json` and `pt <addr> json`, and put the answers together
//! into the same `mosaic-state` line the kernel writes to COM2.

use super::model::{State, VmMap};
use crate::session::Session;
use anyhow::{bail, Context, Result};

/// `"vmalloc 20000; alloc_pages 3"` as commands, blanks dropped.
pub fn split_commands(script: &str) -> Vec<String> {
    script.split([';', '\n']).map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect()
}

/// Runs `commands` (each must answer without `error:`), then takes the
/// state; the page-table walk is of `pt_addr`, or else of the last
/// vmalloc area's start (none if there is no area). Returns the state and
/// its line, which `--save-dump` keeps.
pub fn capture(session: &mut Session, commands: &[String], pt_addr: Option<u64>) -> Result<(State, String)> {
    for command in commands {
        let answer = session.command(command)?;
        if let Some(error) = answer.iter().find(|l| l.starts_with("error:")) {
            bail!("`{command}` answered: {error}");
        }
    }
    let memmap = json_line(session, "memmap json")?;
    let vmmap = json_line(session, "vmmap json")?;
    let vm = VmMap::parse(&vmmap).context("reading `vmmap json`")?;
    let addr = pt_addr.or_else(|| vm.areas.iter().max_by_key(|a| a.start).map(|a| a.start.0));
    let pt = match addr {
        Some(addr) => json_line(session, &format!("pt {addr:#x} json"))?,
        None => "null".to_string(),
    };
    let command = serde_json::Value::String(commands.join("; "));
    let line = format!(
        "{{\"schema\":\"mosaic-state\",\"version\":1,\"seq\":{},\"command\":{command},\"memmap\":{memmap},\"vmmap\":{vmmap},\"pt\":{pt}}}",
        commands.len()
    );
    let state = State::parse(&line).context("reading the kernel's JSON")?;
    Ok((state, line))
}

/// The one JSON line `command` prints.
fn json_line(session: &mut Session, command: &str) -> Result<String> {
    let answer = session.command(command)?;
    match answer.iter().find(|l| l.starts_with('{')) {
        Some(line) => Ok(line.trim().to_string()),
        None => {
            let said = answer.join(" / ");
            let hint = if said.contains("unknown command") {
                " (this kernel predates the JSON maps of docs/visual.md: use --dump FILE)"
            } else {
                ""
            };
            bail!("`{command}` printed no JSON: {said}{hint}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_split_on_semicolons_and_newlines() {
        assert_eq!(
            split_commands(" vmalloc 20000; ;alloc_pages 3\nvmap 2 "),
            ["vmalloc 20000", "alloc_pages 3", "vmap 2"]
        );
        assert!(split_commands(" ; ").is_empty());
    }
}
