# mosaic-buddyinfo: the buddy allocator's free lists (Gorman ch. 6), read
# from mm::page_alloc::global::PAGES, a spin::Mutex<Option<PageAllocator>>
# holding `mem_map` (one Page per frame) and three Zones, each with a
# FreeArea per order: the head PFN of its list and `nr_free`.
#
# Besides the counts it walks each list through mem_map and says where a
# list disagrees with its count or holds a block that is not a free head
# of that order: the usual way a lab-1 split or merge goes wrong.

import gdb

from . import rust

NIL = 0xFFFF_FFFF
NR_ORDERS = 11
ZONE_NAMES = ["DMA", "DMA32", "Normal"]
# A list longer than this is reported as broken (a cycle) instead of
# being walked forever.
WALK_LIMIT = 1 << 20


def page_allocator():
    """(the PageAllocator, whether its lock is held)."""
    return rust.locked_static(
        "mm::page_alloc::global::PAGES", "the page allocator is not set up yet (mm::init has not run)"
    )


def mem_map(pages):
    """(pointer to mem_map[0], number of entries)."""
    return rust.slice_items(pages["map"])


def page_state(page):
    """The PageState of a mem_map entry, by name (Free, Allocated, ...)."""
    return str(page["state"]).split("::")[-1]


def check_list(zone, order, map_ptr, map_len):
    """Problems found walking one free list (empty if it is sound)."""
    area = zone["free_area"][order]
    pfn, prev, count, problems = int(area["head"]), NIL, 0, []
    while pfn != NIL and count <= WALK_LIMIT:
        if pfn >= map_len:
            problems.append("order %d: link to pfn %#x, past mem_map's %d entries" % (order, pfn, map_len))
            break
        page = (map_ptr + pfn).dereference()
        if page_state(page) != "Free" or int(page["order"]) != order:
            problems.append(
                "order %d: pfn %#x is on the list but is %s of order %d"
                % (order, pfn, page_state(page), int(page["order"]))
            )
        if int(page["prev"]) != prev:
            problems.append("order %d: pfn %#x has prev %#x, expected %#x" % (order, pfn, int(page["prev"]), prev))
        if pfn % (1 << order):
            problems.append("order %d: pfn %#x is not aligned to its order" % (order, pfn))
        prev, pfn, count = pfn, int(page["next"]), count + 1
        if len(problems) > 5:
            break
    if count != int(area["nr_free"]) and not problems:
        problems.append("order %d: %d blocks on the list, nr_free says %d" % (order, count, int(area["nr_free"])))
    return problems


class MosaicBuddyinfo(gdb.Command):
    """Free blocks per order in each zone, like the shell's `buddyinfo`.

Usage: mosaic-buddyinfo
Reads the zones' free_area counts (nr_free) from the kernel's page
allocator, shows the pages parked on the per-CPU lists (the shell drains
them first, gdb cannot), then walks every free list through mem_map and
reports any list that disagrees with its count."""

    def __init__(self):
        super().__init__("mosaic-buddyinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        if arg.strip():
            raise gdb.GdbError("usage: mosaic-buddyinfo (no arguments)")
        pages, locked = page_allocator()
        if locked:
            gdb.write("note: the page allocator's lock is held: the lists may be mid-change\n")
        map_ptr, map_len = mem_map(pages)
        problems = []
        for z in range(3):
            zone = pages["zones"][z]
            if int(zone["managed"]) == 0:
                continue
            counts = [int(zone["free_area"][o]["nr_free"]) for o in range(NR_ORDERS)]
            gdb.write("Node 0, zone %8s %s\n" % (ZONE_NAMES[z], " ".join("%6d" % c for c in counts)))
            gdb.write(
                "    free_pages %d of %d managed, %d on the per-CPU list\n"
                % (int(zone["free_pages"]), int(zone["managed"]), int(zone["pcp"]["count"]))
            )
            for order in range(NR_ORDERS):
                problems += ["zone %s, %s" % (ZONE_NAMES[z], p) for p in check_list(zone, order, map_ptr, map_len)]
        for p in problems:
            gdb.write("BROKEN: %s\n" % p)
        if not problems:
            gdb.write("free lists consistent with nr_free and mem_map\n")


def register():
    MosaicBuddyinfo()
