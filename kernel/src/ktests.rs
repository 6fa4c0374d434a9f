//! In-kernel tests of the foundation: timer, fw_cfg, memory layout, shell.
//! Later subsystems add their own lists to `ktest::suites`.

use crate::ktest::{Test, TestResult};
use crate::mm::layout::*;
use crate::{boot, drivers, kassert, kassert_eq, shell};
use x86_64::registers::control::Cr3;

pub const TESTS: &[Test] = &[
    Test { name: "pit::timer_interrupts_advance_ticks", run: timer_ticks, explicit: false },
    Test { name: "fw_cfg::cmdline_is_read", run: cmdline_is_read, explicit: false },
    Test { name: "layout::bootloader_used_fixed_addresses", run: fixed_addresses, explicit: false },
    Test { name: "layout::vmalloc_pml4_entries_start_empty", run: vmalloc_area_empty, explicit: false },
    Test { name: "shell::command_table_is_well_formed", run: command_table, explicit: false },
    Test { name: "shell::bad_input_gives_errors", run: bad_input, explicit: false },
];

fn timer_ticks() -> TestResult {
    let start = drivers::pit::ticks();
    // Each hlt waits for the next interrupt; 1000 of them is plenty for 3 ticks.
    for _ in 0..1000 {
        if drivers::pit::ticks() >= start + 3 {
            return Ok(());
        }
        x86_64::instructions::hlt();
    }
    kassert!(false, "timer stuck at {} ticks", drivers::pit::ticks());
    Ok(())
}

fn cmdline_is_read() -> TestResult {
    let args = drivers::fw_cfg::cmdline();
    kassert!(args.has("ktest") || args.value("ktest").is_some(), "cmdline {:?}", args.as_str());
    Ok(())
}

fn fixed_addresses() -> TestResult {
    let info = boot::info();
    kassert_eq!(info.physical_memory_offset.into_option(), Some(PAGE_OFFSET));
    kassert_eq!(info as *const _ as u64, BOOT_INFO_ADDR);
    kassert_eq!(info.kernel_image_offset, KERNEL_BASE);
    let here = fixed_addresses as fn() -> TestResult as usize as u64;
    kassert!(here >= KERNEL_BASE, "kernel code at {here:#x}");
    let stack = &here as *const u64 as u64;
    kassert!(
        stack > KERNEL_STACK_GUARD && stack <= KERNEL_STACK_GUARD + 4096 + KERNEL_STACK_SIZE,
        "stack at {stack:#x}"
    );
    Ok(())
}

fn vmalloc_area_empty() -> TestResult {
    let (pml4_frame, _) = Cr3::read();
    let pml4 = (PAGE_OFFSET + pml4_frame.start_address().as_u64()) as *const u64;
    let first = (VMALLOC_START >> 39) as usize & 511;
    let last = ((VMALLOC_END - 1) >> 39) as usize & 511;
    kassert_eq!(last - first + 1, 64);
    for index in first..=last {
        // SAFETY: the PML4 is a page of 512 entries, visible in the direct map.
        let entry = unsafe { pml4.add(index).read_volatile() };
        kassert!(entry == 0, "PML4 entry {index} is {entry:#x}");
    }
    Ok(())
}

fn command_table() -> TestResult {
    let table = shell::COMMANDS;
    for (i, cmd) in table.iter().enumerate() {
        kassert!(!cmd.name.is_empty() && !cmd.about.is_empty(), "entry {i}");
        kassert!(cmd.min_args <= cmd.max_args, "{}", cmd.name);
        kassert!(table[..i].iter().all(|c| c.name != cmd.name), "duplicate {}", cmd.name);
    }
    Ok(())
}

fn bad_input() -> TestResult {
    for line in ["frobnicate", "log loud", "log info extra", "help nope", "uptime 1"] {
        kassert!(shell::execute(table(), line).is_err(), "'{line}' was accepted");
    }
    kassert!(shell::execute(table(), "   ").is_ok());
    Ok(())
}

fn table() -> &'static [shell::Command] {
    shell::COMMANDS
}
