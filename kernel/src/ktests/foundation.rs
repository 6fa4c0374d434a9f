//! In-kernel tests of the foundation: timer, fw_cfg, memory layout, shell.
//! Later subsystems add their own lists to `ktest::suites`.

use crate::ktest::{Test, TestResult};
use crate::mm::layout::*;
use crate::{boot_info as boot, drivers, kassert, kassert_eq, shell};
use x86_64::registers::control::Cr3;

pub const TESTS: &[Test] = crate::suite![
    "pit::timer_interrupts_advance_ticks" => timer_ticks,
    "fw_cfg::cmdline_is_read" => cmdline_is_read,
    "layout::bootloader_used_fixed_addresses" => fixed_addresses,
    "layout::vmalloc_pml4_entries_start_empty" => vmalloc_area_empty,
    "shell::command_table_is_well_formed" => command_table,
    "shell::bad_input_gives_errors" => bad_input,
    "nx::text_data_and_vmalloc_permissions" => permissions,
    // These crash the kernel on purpose; tests/crash.rs runs each one and
    // expects its report and a failure exit, not a hang or a reset.
    explicit "crash::stack_overflow" => stack_overflow,
    explicit "crash::invalid_opcode" => invalid_opcode,
    explicit "crash::general_protection" => general_protection,
    explicit "crash::null_dereference" => null_dereference,
];

static mut DATA_WORD: u64 = 1;

/// Kernel text must be read-only and executable; data, the heap (direct
/// map), the stack and vmalloc memory writable and not executable.
fn permissions() -> TestResult {
    use crate::mm::{pgtable, vmalloc};
    use x86_64::registers::model_specific::{Efer, EferFlags};
    use x86_64::VirtAddr;
    kassert!(Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE), "EFER.NXE is off");
    let rights = |addr: u64| pgtable::walk(pgtable::current_pgd(), VirtAddr::new(addr)).effective();
    let heap = alloc::boxed::Box::new(7u64);
    let vm = vmalloc::vmalloc(4096).unwrap();
    let cases = [
        ("text", permissions as fn() -> TestResult as usize as u64, (false, true)),
        ("data", &raw const DATA_WORD as u64, (true, false)),
        ("heap", &*heap as *const u64 as u64, (true, false)),
        ("stack", &vm as *const _ as u64, (true, false)),
        ("vmalloc", vm.as_u64(), (true, false)),
    ];
    let results = cases.map(|(what, addr, want)| (what, rights(addr), want));
    vmalloc::vfree(vm).unwrap();
    for (what, got, want) in results {
        kassert!(got == Some(want), "{what}: (writable, executable) is {got:?}, want {want:?}");
    }
    Ok(())
}

/// Recurses until the stack runs into its guard page. The page fault
/// cannot push its frame on the full stack, so the CPU raises a double
/// fault, which runs on its own IST stack and reports.
#[allow(unconditional_recursion)]
fn stack_overflow() -> TestResult {
    let mut pad = [0u8; 512];
    core::hint::black_box(&mut pad);
    stack_overflow()?;
    core::hint::black_box(&pad);
    Ok(())
}

fn invalid_opcode() -> TestResult {
    // SAFETY: deliberately executes an undefined instruction.
    unsafe { core::arch::asm!("ud2") };
    Ok(())
}

fn general_protection() -> TestResult {
    // A non-canonical address: a #GP, not a page fault.
    let addr: u64 = 0x8000_0000_0000_0000;
    // SAFETY: deliberately faults.
    unsafe { core::arch::asm!("mov {0}, qword ptr [{0}]", inout(reg) addr => _) };
    Ok(())
}

fn null_dereference() -> TestResult {
    // SAFETY: deliberately faults (page 0 is never mapped).
    let value = unsafe { core::ptr::read_volatile(core::hint::black_box(core::ptr::without_provenance::<u64>(8))) };
    kassert!(value == 0);
    Ok(())
}

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
