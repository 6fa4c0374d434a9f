# mosaic-pt: the shell's `pt <vaddr>`, done by gdb on a stopped guest.
# It walks the page table in CR3 level by level (layout.walk), reading
# each table through the direct map, and prints every entry with its flags.

import gdb

from . import layout, rust


def print_walk(addr, indent=""):
    steps, phys = layout.walk(addr)
    for level, index, entry in steps:
        label = "%s[%d]" % (level, index)
        gdb.write("%s%-9s= %#018x %s\n" % (indent, label, entry, layout.flag_names(entry)))
    if phys is None:
        gdb.write("%s-> not mapped: the %s entry is not present\n" % (indent, steps[-1][0]))
    else:
        gdb.write("%s-> physical %#x\n" % (indent, phys))
    return phys


class MosaicPt(gdb.Command):
    """Walk the current page table (CR3) for an address, level by level.

Usage: mosaic-pt <address or expression>
Like the shell's `pt`: each level's entry and flags (P W U PWT PCD A D PS
G NX), then the physical address or the level where the walk stopped.
The tables are read through the direct map; nothing runs in the guest."""

    def __init__(self):
        super().__init__("mosaic-pt", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        addr = rust.address_arg(arg, "mosaic-pt")
        if not layout.is_canonical(addr):
            raise gdb.GdbError("mosaic-pt: %#x is not canonical (bits 47..63 differ)" % addr)
        gdb.write("CR3 = %#x\n" % layout.cr3())
        print_walk(addr)


def register():
    MosaicPt()
