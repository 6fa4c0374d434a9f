# mosaic-explain: the shell's `explain <addr>` (mm/explain.rs) from gdb:
# what an address is, from the memory manager's own records, as Linux's
# mem_dump_obj does. It answers from the layout (layout.py), the vmalloc
# areas (vmalloc.py), mem_map and the zones (buddy.py), the kernel's
# symbols (for the image) and the page-table walk.
#
# A shorter cousin of the kernel's: it does not know slab caches or page
# tables' own pages; `explain` in the shell does.

import gdb

from . import buddy, layout, rust, vmalloc

MAX_ORDER = 10


def direct_map(addr):
    phys = addr - layout.PAGE_OFFSET
    pfn = phys // layout.PAGE_SIZE
    text = "the direct map of physical %#x (pfn %#x)" % (phys, pfn)
    pages, _ = buddy.page_allocator()
    map_ptr, map_len = buddy.mem_map(pages)
    if pfn >= map_len:
        return text + ", past the end of mem_map (no RAM there)"
    page = (map_ptr + pfn).dereference()
    zone = buddy.ZONE_NAMES[int(page["zone"])]
    return "%s, in zone %s, %s" % (text, zone, block_of(pfn, map_ptr))


def block_of(pfn, map_ptr):
    """What mem_map says about the block holding `pfn`: look for the head
    of a block of growing order that covers it."""
    for order in range(MAX_ORDER + 1):
        head = pfn & ~((1 << order) - 1)
        page = (map_ptr + head).dereference()
        state = buddy.page_state(page)
        if state == "Tail":
            continue
        covers = int(page["order"]) >= order
        if state == "Free" and covers:
            return "in a free block of order %d at pfn %#x" % (int(page["order"]), head)
        if state == "Allocated" and covers:
            return "in an allocated block of order %d at pfn %#x" % (int(page["order"]), head)
        if state == "Pcp" and head == pfn:
            return "a free page on the per-CPU list"
        if state == "Reserved" and head == pfn:
            return "reserved (never given to the buddy allocator)"
    return "a page mem_map cannot place (no block head covers it)"


def vmalloc_area(addr):
    state, _ = vmalloc.vmalloc_state()
    for area in vmalloc.busy_areas(state)[1]:
        start, size, vm = int(area["start"]), int(area["size"]), area["data"]
        if not start <= addr < start + size:
            continue
        mapped, asked = int(vm["nr_pages"]) * layout.PAGE_SIZE, int(vm["requested"])
        where = "%d-byte %s area at %#x (%d pages + guard), allocated at %s" % (
            asked, vmalloc.kind(vm), start, int(vm["nr_pages"]), rust.location(vm["caller"]))
        phys = rust.unwrap_option(vm["phys_addr"])
        if phys is not None:
            where += ", mapping device memory at phys %#x" % int(rust.scalar(phys))
        offset = addr - start
        if offset >= mapped:
            return "the guard page of the " + where
        past = "" if offset < asked else ", %d bytes past its end" % (offset - asked)
        return "byte %d of the %s%s" % (offset, where, past)
    for freed in vmalloc.freed_areas(state):
        if int(freed["start"]) <= addr < int(freed["end"]):
            return "inside a %s area freed earlier (%#x-%#x), allocated at %s" % (
                rust.str_value(freed["kind"]), int(freed["start"]), int(freed["end"]),
                rust.location(freed["caller"]))
    return "in the vmalloc area, but in no area"


def boot_area(addr):
    stack = layout.BOOT_AREA_START + layout.PAGE_SIZE
    if addr < stack:
        return "the guard page below the boot stack"
    if addr < stack + layout.KERNEL_STACK_SIZE:
        return "the boot stack (%d bytes below its top)" % (stack + layout.KERNEL_STACK_SIZE - addr)
    if layout.BOOT_INFO_ADDR <= addr < layout.FRAMEBUFFER_ADDR:
        return "the bootloader's BootInfo and memory map"
    if addr >= layout.FRAMEBUFFER_ADDR:
        return "the frame buffer"
    return "the boot area (nothing known there)"


def kernel_image(addr):
    symbol = gdb.execute("info symbol %#x" % addr, to_string=True).strip()
    if symbol.startswith("No symbol"):
        return "the kernel image, at no symbol"
    return "the kernel image: " + symbol


def describe(addr):
    if not layout.is_canonical(addr):
        return "not canonical: no x86_64 address (bits 47..63 differ)"
    if layout.PAGE_OFFSET <= addr < layout.VMALLOC_START:
        return direct_map(addr)
    if layout.VMALLOC_START <= addr < layout.VMALLOC_END:
        return vmalloc_area(addr)
    if layout.BOOT_AREA_START <= addr < layout.BOOT_AREA_END:
        return boot_area(addr)
    if addr >= layout.KERNEL_BASE:
        return kernel_image(addr)
    return "outside every region of Mosaic's layout (kernel/src/mm/layout.rs)"


def mapping(addr):
    """How the current page table maps the address, in a few words."""
    steps, phys = layout.walk(addr)
    if phys is not None:
        return "mapped to physical %#x (%s)" % (phys, layout.flag_names(steps[-1][2]))
    level, index, _ = steps[-1]
    return "not mapped: %s entry %d is not present" % (level, index)


class MosaicExplain(gdb.Command):
    """Say what an address is, from the memory manager's own records.

Usage: mosaic-explain <address or expression>
Like the shell's `explain`: the vmalloc area and byte (or its guard page,
or a freed area), the direct map's page with its zone and buddy block,
the boot stack, the kernel symbol; then how the page table maps it."""

    def __init__(self):
        super().__init__("mosaic-explain", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        addr = rust.address_arg(arg, "mosaic-explain")
        gdb.write("%#x: %s\n" % (addr, describe(addr)))
        if layout.is_canonical(addr):
            gdb.write("    %s\n" % mapping(addr))


def register():
    MosaicExplain()
