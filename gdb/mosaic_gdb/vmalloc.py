# mosaic-vmallocinfo: the shell's `vmallocinfo` (Linux's /proc/vmallocinfo,
# and scripts/gdb's lx-vmallocinfo), read from the kernel's statics.
#
# The records: mm::vmalloc::VMALLOC, a spin::Mutex<Option<Vmalloc>> whose
# `areas` is a Box<dyn AreaAllocator<VmStruct>>: either the TreeAllocator
# (busy areas in slots, `areas: Vec<Option<Area<VmStruct>>>`) or, with
# `vmalloc=list`, the ListAllocator (Linux 2.4's vmlist, `areas:
# Vec<Area<VmStruct>>`). Each Area is a start, a size (guard page
# included) and the VmStruct.

import gdb

from . import rust


def vmalloc_state():
    """(the Vmalloc record, whether its lock is held)."""
    return rust.locked_static("mm::vmalloc::VMALLOC", "vmalloc is not set up yet (mm::vmalloc::init has not run)")


def busy_areas(state):
    """(allocator name, the busy Area<VmStruct> values in address order)."""
    allocator = rust.dyn_concrete(state["areas"])
    name = str(allocator.type)
    if "TreeAllocator" in name:
        areas = [rust.unwrap_option(slot) for slot in rust.vec_items(allocator["areas"])]
        areas = [a for a in areas if a is not None]
    else:
        areas = rust.vec_items(allocator["areas"])
    areas.sort(key=lambda a: int(a["start"]))
    return ("tree" if "TreeAllocator" in name else "list"), areas


# VmStruct's flags (mm/vmalloc), in the order VmStruct::kind tests them.
KINDS = [(0x2, "vmalloc"), (0x1, "ioremap"), (0x1000, "vmap_block")]


def kind(vm):
    flags = int(vm["flags"])
    return next((name for bit, name in KINDS if flags & bit), "vmap")


def area_line(area):
    """One line as the shell's vmallocinfo prints it."""
    start, size, vm = int(area["start"]), int(area["size"]), area["data"]
    line = "%#x-%#x %8d %s" % (start, start + size, size, rust.location(vm["caller"]))
    phys = rust.unwrap_option(vm["phys_addr"])
    if phys is not None:
        line += " phys=%#018x %s" % (int(rust.scalar(phys)), kind(vm))
    else:
        line += " pages=%d %s" % (int(vm["nr_pages"]), kind(vm))
    if int(vm["requested"]) % 4096:
        line += " (asked %d bytes)" % int(vm["requested"])
    return line


def freed_areas(state):
    """The recently released areas the kernel remembers (newest first)."""
    ring = [state["freed"][i] for i in range(16)]
    newest = int(state["next_freed"])
    ordered = ring[newest:] + ring[:newest]
    return [f for f in reversed(ordered) if int(f["end"]) != 0]


class MosaicVmallocinfo(gdb.Command):
    """List the vmalloc areas, like the shell's `vmallocinfo`.

Usage: mosaic-vmallocinfo
One line per busy area: start-end (guard page included), size, who asked
(file:line), pages or physical address, kind. Read from the kernel's
mm::vmalloc::VMALLOC record; says so when its lock is held."""

    def __init__(self):
        super().__init__("mosaic-vmallocinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        if arg.strip():
            raise gdb.GdbError("usage: mosaic-vmallocinfo (no arguments)")
        state, locked = vmalloc_state()
        if locked:
            gdb.write("note: the vmalloc lock is held: the records may be mid-change\n")
        allocator, areas = busy_areas(state)
        for area in areas:
            gdb.write(area_line(area) + "\n")
        gdb.write(
            "%d areas (%s allocator), %d pages held by vmalloc\n"
            % (len(areas), allocator, int(state["vmalloc_pages"]))
        )


def register():
    MosaicVmallocinfo()
