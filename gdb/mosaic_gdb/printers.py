# Pretty-printers: how `print` shows the x86_64 crate's address types and
# Mosaic's memory-manager records. Without them gdb prints the raw Rust
# structs: `VirtAddr (18446612682702848000)` for an address and
# `PageTableFlags (...InternalBitFlags (9223372036854776067))` for flags.
# `print/r value` still shows the raw struct.

import gdb
import gdb.printing

from . import layout, rust

# x86_64's PageTableFlags, bit by bit, with the crate's names.
PAGE_TABLE_FLAGS = [
    (0, "PRESENT"),
    (1, "WRITABLE"),
    (2, "USER_ACCESSIBLE"),
    (3, "WRITE_THROUGH"),
    (4, "NO_CACHE"),
    (5, "ACCESSED"),
    (6, "DIRTY"),
    (7, "HUGE_PAGE"),
    (8, "GLOBAL"),
    (9, "BIT_9"),
    (10, "BIT_10"),
    (11, "BIT_11"),
    (52, "BIT_52"),
    (53, "BIT_53"),
    (54, "BIT_54"),
    (55, "BIT_55"),
    (56, "BIT_56"),
    (57, "BIT_57"),
    (58, "BIT_58"),
    (59, "BIT_59"),
    (60, "BIT_60"),
    (61, "BIT_61"),
    (62, "BIT_62"),
    (63, "NO_EXECUTE"),
]


def flags_text(bits):
    names = [name for bit, name in PAGE_TABLE_FLAGS if bits & (1 << bit)]
    return "%s (%#x)" % (" | ".join(names) or "(empty)", bits)


def page_size(value):
    """`4KiB`, `2MiB` or `1GiB`, from the type argument Size4KiB etc."""
    size = str(value.type.template_argument(0)).split("::Size")[-1]
    return size


class Text:
    """A printer that shows one line of text made by `show(value)`."""

    def __init__(self, show, value):
        self.show, self.value = show, value

    def to_string(self):
        try:
            return self.show(self.value)
        except gdb.error as e:
            return "<unreadable: %s>" % e


def virt_addr(v):
    return "VirtAddr(%#x)" % int(rust.scalar(v))


def phys_addr(v):
    return "PhysAddr(%#x)" % int(rust.scalar(v))


def phys_frame(v):
    return "PhysFrame[%s](%#x)" % (page_size(v), int(rust.scalar(v["start_address"])))


def x86_page(v):
    return "Page[%s](%#x)" % (page_size(v), int(rust.scalar(v["start_address"])))


def page_table_flags(v):
    return flags_text(int(rust.scalar(v)))


def page_table_entry(v):
    entry = int(v["entry"])
    return "%#018x -> %#x %s" % (entry, entry & layout.ADDRESS_MASK, flags_text(entry & ~layout.ADDRESS_MASK))


def location(v):
    return "%s:%d:%d" % (rust.str_value(v["filename"]["pointer"]), int(v["line"]), int(v["col"]))


def location_ref(v):
    return location(v.dereference())


def vm_struct(v):
    from . import vmalloc

    phys = rust.unwrap_option(v["phys_addr"])
    backing = "phys %#x" % int(rust.scalar(phys)) if phys is not None else "%d pages" % int(v["nr_pages"])
    redzone = ", redzone armed" if bool(v["redzone"]) else ""
    return "VmStruct(%s, %s, asked %d bytes, by %s%s)" % (
        vmalloc.kind(v), backing, int(v["requested"]), rust.location(v["caller"]), redzone)


def area(v):
    start, size = int(v["start"]), int(v["size"])
    return "Area(%#x-%#x, %d bytes): %s" % (start, start + size, size, v["data"].format_string())


def free_node(v):
    start, size = int(v["start"]), int(v["size"])
    return "FreeNode(%#x-%#x, %d bytes, subtree_max_size %d)" % (start, start + size, size, int(v["subtree_max_size"]))


def freed(v):
    start, end = int(v["start"]), int(v["end"])
    if end == 0:
        return "Freed(empty slot)"
    return "Freed(%s %#x-%#x, asked %d bytes, by %s)" % (
        rust.str_value(v["kind"]), start, end, int(v["requested"]), rust.location(v["caller"]))


def zone(v):
    from . import buddy

    counts = " ".join(str(int(v["free_area"][o]["nr_free"])) for o in range(buddy.NR_ORDERS))
    return "Zone(%s: pfn %#x-%#x, %d of %d managed pages free, %d on the per-CPU list; nr_free by order: %s)" % (
        buddy.ZONE_NAMES[int(v["kind"])], int(v["start_pfn"]), int(v["end_pfn"]), int(v["free_pages"]),
        int(v["managed"]), int(v["pcp"]["count"]), counts)


def free_area(v):
    head = int(v["head"])
    first = "empty" if head == 0xFFFF_FFFF else "head pfn %#x" % head
    return "FreeArea(%d free, %s)" % (int(v["nr_free"]), first)


def mem_map_page(v):
    def link(pfn):
        return "-" if int(pfn) == 0xFFFF_FFFF else "%#x" % int(pfn)

    return "Page(%s, order %d, zone %d, prev %s, next %s)" % (
        str(v["state"]).split("::")[-1], int(v["order"]), int(v["zone"]), link(v["prev"]), link(v["next"]))


def slab_cache(v):
    partial = rust.unwrap_option(v["partial"])
    head = "none" if partial is None else "%#x" % int(rust.scalar(partial))
    return "Cache(kmalloc-%d: %d slabs, %d objects in use, first partial slab %s)" % (
        int(v["object_size"]), int(v["slabs"]), int(v["in_use"]), head)


def slab_header(v):
    return "SlabHeader(kmalloc-%d slab: %d in use, %d slots touched)" % (
        int(v["object_size"]), int(v["in_use"]), int(v["untouched"]))


# Type name (generic arguments removed) -> how to show a value of it.
BY_NAME = {
    "x86_64::addr::VirtAddr": virt_addr,
    "x86_64::addr::PhysAddr": phys_addr,
    "x86_64::structures::paging::frame::PhysFrame": phys_frame,
    "x86_64::structures::paging::page::Page": x86_page,
    "x86_64::structures::paging::page_table::PageTableFlags": page_table_flags,
    "x86_64::structures::paging::page_table::PageTableEntry": page_table_entry,
    "core::panic::location::Location": location,
    "mosaic_kernel::mm::vmalloc::VmStruct": vm_struct,
    "mosaic_kernel::mm::vmalloc::Freed": freed,
    "mosaic_kernel::mm::vmap_area::Area": area,
    "mosaic_kernel::mm::vmap_area::free_tree::FreeNode": free_node,
    "mosaic_kernel::mm::page_alloc::zone::Zone": zone,
    "mosaic_kernel::mm::page_alloc::zone::FreeArea": free_area,
    "mosaic_kernel::mm::page::Page": mem_map_page,
    "mosaic_kernel::mm::slab::Cache": slab_cache,
    "mosaic_kernel::mm::slab::SlabHeader": slab_header,
}


def dyn_box(v):
    """A Box<dyn Trait> (the vmalloc area allocator): the concrete type
    and where it lives. gdb alone prints the vtable pointer, with
    warnings, and not the type."""
    concrete = rust.dyn_concrete(v)
    return "Box<dyn>: %s at %#x" % (concrete.type, int(v["pointer"]))


def lookup(value):
    """gdb asks this for every value it prints."""
    t = value.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        # A &Location (vmalloc's `caller`) prints as file:line:col.
        if (t.target().strip_typedefs().name or "") == "core::panic::location::Location":
            return Text(location_ref, value)
        return None
    name = t.name or ""
    if name.startswith("alloc::boxed::Box<(dyn "):
        return Text(dyn_box, value)
    show = BY_NAME.get(name.split("<")[0])
    return Text(show, value) if show else None


def register():
    gdb.printing.register_pretty_printer(None, lookup, replace=True)
