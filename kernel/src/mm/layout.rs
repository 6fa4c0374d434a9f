//! The kernel's virtual memory layout, modelled on Linux x86_64 (4-level
//! paging, see Linux's Documentation/arch/x86/x86_64/mm.rst).
//!
//! ```text
//! 0x0000_0000_0000_0000 - 0x0000_7fff_ffff_ffff  lower half: unused (user space in Linux);
//!                                                the bootloader leaves two identity-mapped pages here
//! 0xffff_8880_0000_0000 - ...                    direct map of RAM (PAGE_OFFSET; direct_map.rs trims
//!                                                the bootloader's to RAM, kernel image alias read-only)
//! 0xffff_c900_0000_0000 - 0xffff_e8ff_ffff_ffff  vmalloc/ioremap area, 32 TiB = 64 PML4 entries
//! 0xffff_fe00_0000_0000 - 0xffff_feff_ffff_ffff  boot area: kernel stack, boot info, frame buffer
//!                                                (Linux's cpu_entry_area sits here)
//! 0xffff_ffff_8000_0000 - ...                    kernel image (__START_KERNEL_map)
//! ```
//!
//! Everything the bootloader maps is pinned to a fixed address outside the
//! vmalloc area, so the vmalloc PML4 entries start out empty in every table.

use bootloader_api::config::{BootloaderConfig, Mapping};
use x86_64::{PhysAddr, VirtAddr};

/// Bytes one entry of each level maps, named as Linux names them
/// (arch/x86/include/asm/pgtable_64_types.h): a PGD entry covers 512 GiB,
/// a PUD entry 1 GiB, a PMD entry 2 MiB (and a PTE one `PAGE_SIZE` page).
pub const PGDIR_SIZE: u64 = 1 << PGDIR_SHIFT;
pub const PUD_SIZE: u64 = 1 << PUD_SHIFT;
pub const PMD_SIZE: u64 = 1 << PMD_SHIFT;
/// Where each level's 9 index bits start in a virtual address.
pub const PGDIR_SHIFT: u32 = 39;
pub const PUD_SHIFT: u32 = 30;
pub const PMD_SHIFT: u32 = 21;

/// Start of the direct map: physical address `p` is visible at `PAGE_OFFSET + p`.
pub const PAGE_OFFSET: u64 = 0xffff_8880_0000_0000;
/// First address of the vmalloc area.
pub const VMALLOC_START: u64 = 0xffff_c900_0000_0000;
/// One past the last address of the vmalloc area.
pub const VMALLOC_END: u64 = 0xffff_e900_0000_0000;
/// The PGD indices that cover the vmalloc area (402..=465).
pub const VMALLOC_PGD: core::ops::RangeInclusive<usize> =
    (VMALLOC_START >> PGDIR_SHIFT) as usize & 511..=((VMALLOC_END - 1) >> PGDIR_SHIFT) as usize & 511;
/// The region given to the bootloader's own mappings.
pub const BOOT_AREA_START: u64 = 0xffff_fe00_0000_0000;
pub const BOOT_AREA_END: u64 = 0xffff_ff00_0000_0000;
/// The kernel stack's guard page; the stack itself starts one page higher.
pub const KERNEL_STACK_GUARD: u64 = BOOT_AREA_START;
pub const KERNEL_STACK_SIZE: u64 = 256 * 1024;
/// Where the bootloader puts its `BootInfo` (and the memory map after it).
pub const BOOT_INFO_ADDR: u64 = BOOT_AREA_START + 0x1000_0000;
/// Where the frame buffer is mapped, if the firmware provides one.
pub const FRAMEBUFFER_ADDR: u64 = BOOT_AREA_START + 0x2000_0000;
/// Base of the kernel image: the top 2 GiB, as in Linux.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;

/// Tells the bootloader (through a section of the kernel ELF) where to put
/// everything. The kernel is a position-independent executable, relocated
/// by the bootloader to `KERNEL_BASE`.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.kernel_stack_size = KERNEL_STACK_SIZE;
    config.mappings.physical_memory = Some(Mapping::FixedAddress(PAGE_OFFSET));
    config.mappings.kernel_base = Mapping::FixedAddress(KERNEL_BASE);
    config.mappings.kernel_stack = Mapping::FixedAddress(KERNEL_STACK_GUARD);
    config.mappings.boot_info = Mapping::FixedAddress(BOOT_INFO_ADDR);
    config.mappings.framebuffer = Mapping::FixedAddress(FRAMEBUFFER_ADDR);
    // Anything left dynamic (nothing today) also lands in the boot area.
    config.mappings.dynamic_range_start = Some(BOOT_AREA_START);
    config.mappings.dynamic_range_end = Some(BOOT_AREA_END - 1);
    config
};

/// Where physical address `phys` is visible in the direct map (Linux's `__va`).
pub fn phys_to_virt(phys: PhysAddr) -> VirtAddr {
    VirtAddr::new(PAGE_OFFSET + phys.as_u64())
}

/// The physical address behind a direct-map address (Linux's `__pa`).
/// `virt` must lie in the direct map.
pub fn virt_to_phys(virt: VirtAddr) -> PhysAddr {
    debug_assert!(virt.as_u64() >= PAGE_OFFSET && virt.as_u64() < VMALLOC_START);
    PhysAddr::new(virt.as_u64() - PAGE_OFFSET)
}

/// True if `addr` lies in the vmalloc area.
pub const fn in_vmalloc_area(addr: u64) -> bool {
    addr >= VMALLOC_START && addr < VMALLOC_END
}

// The regions come in this order, without overlap: checked by the compiler.
const _: () = assert!(PAGE_OFFSET < VMALLOC_START && VMALLOC_END <= BOOT_AREA_START);
const _: () = assert!(BOOT_AREA_END <= KERNEL_BASE);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_do_not_overlap_and_are_pml4_aligned() {
        for a in [PAGE_OFFSET, VMALLOC_START, VMALLOC_END, BOOT_AREA_START, BOOT_AREA_END] {
            assert_eq!(a % PGDIR_SIZE, 0, "{a:#x} is not on a PML4 entry boundary");
        }
        assert_eq!((VMALLOC_END - VMALLOC_START) / PGDIR_SIZE, 64);
        for a in [KERNEL_STACK_GUARD, BOOT_INFO_ADDR, FRAMEBUFFER_ADDR] {
            assert!(!in_vmalloc_area(a) && (BOOT_AREA_START..BOOT_AREA_END).contains(&a));
        }
    }
}
