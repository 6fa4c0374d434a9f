//! The memory-size matrix: BIOS and UEFI machines of every size from 16 MiB
//! to 16 GiB either reach the prompt and answer `meminfo`, or, below the
//! firmware's minimum, are refused before QEMU starts with one line naming
//! it. The machines run one after another (one QEMU at a time).

use mosaic_tests::*;

/// The sizes of issue 19, and the UEFI minimum, in QEMU's `-m` syntax.
const SIZES: [&str; 10] = ["16M", "20M", "24M", "32M", "44M", "64M", "129M", "4095M", "5G", "16G"];

#[test]
fn every_size_boots_or_is_refused_with_the_minimum() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let mut failures = Vec::new();
    for firmware in [Firmware::Bios, Firmware::Uefi] {
        let min = firmware.min_memory_mib();
        for size in SIZES {
            let mut machine = env.machine(firmware);
            machine.memory = size.into();
            let below = xtask::qemu::parse_memory(size).expect("a valid size") < min << 20;
            let name = format!("machines-{}-{size}", firmware.name());
            let outcome = match Session::start(&name, &machine, env) {
                Err(e) if below => {
                    let line = e.to_string();
                    let expected = format!("need at least {min}M of memory");
                    if line.contains(&expected) && !line.contains('\n') {
                        format!("refused: {line}")
                    } else {
                        failures.push(format!("{name}: refused with {line:?}, not one line naming {min}M"));
                        continue;
                    }
                }
                Err(e) => {
                    failures.push(format!("{name}: {e:#}"));
                    continue;
                }
                Ok(_) if below => {
                    failures.push(format!("{name}: started although below the {min}M minimum"));
                    continue;
                }
                Ok(mut s) => {
                    let booted = s.wait_prompt().and_then(|_| s.command("meminfo"));
                    match booted {
                        Ok(lines) if lines.iter().any(|l| l.starts_with("MemTotal:")) => {
                            format!("prompt, {}", lines[0].split_whitespace().collect::<Vec<_>>().join(" "))
                        }
                        Ok(lines) => {
                            s.fail();
                            failures.push(format!("{name}: meminfo answered {lines:?}"));
                            continue;
                        }
                        Err(e) => {
                            failures.push(format!("{name}: {}", e.to_string().lines().next().unwrap_or("")));
                            continue;
                        }
                    }
                }
            };
            eprintln!("{:<5} {size:>6}: {outcome}", firmware.name());
        }
    }
    assert!(failures.is_empty(), "machines that neither booted nor were refused:\n{}", failures.join("\n"));
    Ok(())
}

/// Other machines a course may run: the soak must pass on each (issue 19:
/// `-no-hpet` once reported a corruption; it was stress's ioremap objects
/// expecting an HPET).
#[test]
fn the_soak_passes_on_other_machine_configurations() -> anyhow::Result<()> {
    let env = TestEnv::get()?;
    let configs: [(&str, Option<&str>, &[&str]); 5] = [
        ("no-hpet", None, &["-no-hpet"]),
        ("q35", None, &["-machine", "q35"]),
        ("cpu-max", Some("max"), &[]),
        ("no-pge", Some("qemu64,phys-bits=39,-pge"), &[]),
        ("smp4", None, &["-smp", "4"]),
    ];
    for (name, cpu, extra) in configs {
        let mut machine = env.machine(Firmware::Bios);
        machine.cpu = cpu.map(String::from);
        machine.extra = extra.iter().map(|s| s.to_string()).collect();
        let mut s = Session::start(&format!("machines-{name}"), &machine, env)?;
        s.expect("^Mosaic teaching kernel")?;
        s.wait_prompt()?;
        for seed in [7, 8] {
            let out = s.command(&format!("stress 1000 {seed}"))?;
            assert!(
                out.first().is_some_and(|l| l.starts_with("stress: 1000 operations in ")),
                "{name}, seed {seed}: {out:?}"
            );
        }
    }
    Ok(())
}
