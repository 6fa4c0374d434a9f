# Mosaic's virtual memory layout and the page-table walk, seen from gdb.
#
# The numbers are kernel/src/mm/layout.rs's (Rust constants leave no trace
# in the debug info, so they are written out again here; tests/gdb.rs
# checks that the two agree). Physical memory is read the way the kernel
# itself reads it: through the direct map, at PAGE_OFFSET + phys.

import struct

import gdb

PAGE_SIZE = 4096
PAGE_OFFSET = 0xFFFF_8880_0000_0000
VMALLOC_START = 0xFFFF_C900_0000_0000
VMALLOC_END = 0xFFFF_E900_0000_0000
BOOT_AREA_START = 0xFFFF_FE00_0000_0000
BOOT_AREA_END = 0xFFFF_FF00_0000_0000
KERNEL_STACK_SIZE = 256 * 1024
BOOT_INFO_ADDR = BOOT_AREA_START + 0x1000_0000
FRAMEBUFFER_ADDR = BOOT_AREA_START + 0x2000_0000
KERNEL_BASE = 0xFFFF_FFFF_8000_0000

# (level name, shift of its 9 index bits, bytes a leaf entry maps)
LEVELS = [("PGD", 39, None), ("PUD", 30, 1 << 30), ("PMD", 21, 1 << 21), ("PTE", 12, PAGE_SIZE)]

# The entry bits `pt` names, lowest first (x86_64's PageTableFlags).
FLAG_NAMES = [
    (1 << 0, "P"),
    (1 << 1, "W"),
    (1 << 2, "U"),
    (1 << 3, "PWT"),
    (1 << 4, "PCD"),
    (1 << 5, "A"),
    (1 << 6, "D"),
    (1 << 7, "PS"),
    (1 << 8, "G"),
    (1 << 63, "NX"),
]
PRESENT, HUGE = 1 << 0, 1 << 7
ADDRESS_MASK = 0x000F_FFFF_FFFF_F000


def flag_names(entry):
    return " ".join(name for bit, name in FLAG_NAMES if entry & bit)


def is_canonical(addr):
    top = addr >> 47
    return top == 0 or top == (1 << 17) - 1


def read_u64(vaddr):
    memory = gdb.selected_inferior().read_memory(vaddr, 8)
    return struct.unpack("<Q", bytes(memory))[0]


def read_phys_u64(phys):
    """Eight bytes of physical memory, through the direct map."""
    try:
        return read_u64(PAGE_OFFSET + phys)
    except gdb.MemoryError:
        raise gdb.GdbError("cannot read physical %#x through the direct map at %#x" % (phys, PAGE_OFFSET + phys))


def cr3():
    """The page table the CPU uses now (QEMU's gdb stub shows CR3)."""
    try:
        return int(gdb.parse_and_eval("$cr3")) & ADDRESS_MASK
    except gdb.error:
        raise gdb.GdbError("this gdb stub does not show $cr3 (QEMU's does)")


def walk(addr, pgd=None):
    """Walks the tables the way the MMU does (mm::pgtable::walk): a list
    of (level, index, entry) and the physical address, or None where the
    walk stopped at an entry that is not present."""
    table = cr3() if pgd is None else pgd
    steps = []
    for level, shift, leaf_size in LEVELS:
        index = (addr >> shift) & 511
        entry = read_phys_u64(table + index * 8)
        steps.append((level, index, entry))
        if not entry & PRESENT:
            return steps, None
        if level == "PTE" or (leaf_size and level != "PGD" and entry & HUGE):
            base = entry & ADDRESS_MASK & ~(leaf_size - 1)
            return steps, base + (addr & (leaf_size - 1))
        table = entry & ADDRESS_MASK
    return steps, None
