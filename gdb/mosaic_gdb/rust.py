# Reading Rust values from gdb's Python API: enums, Option, Vec, slices,
# &str, spin::Mutex and `Box<dyn Trait>`. gdb knows Rust's types from the
# kernel's DWARF; these helpers only know where Rust keeps the parts.

import gdb


class NotReady(gdb.GdbError):
    """A kernel record that does not exist yet (before mm::init)."""


def variant(value):
    """(name, fields) of the variant an enum value holds. gdb has already
    picked the variant from the discriminant: it is the one named field
    (the unnamed one, when there is one, is the discriminant itself)."""
    if value.address is not None:
        # Read it again from memory: gdb picks the variant when it reads an
        # enum, but not always for a field of a value it already holds
        # (inside a pretty-printer, say).
        value = value.address.dereference()
    named = [f for f in value.type.fields() if f.name]
    field = named[-1]
    return field.name, value[field]


def unwrap_option(value):
    """The value inside `Some`, or None for `None`."""
    name, inner = variant(value)
    return inner["__0"] if name == "Some" else None


def scalar(value):
    """The number inside wrappers such as AtomicBool or Cell<usize>: the
    first field, then its first field, until a plain number."""
    while value.type.strip_typedefs().code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        value = value[value.type.fields()[0]]
    return value


def mutex_data(mutex):
    """(data, locked) of a spin::Mutex: what it guards, and whether some
    CPU holds it right now (then the data may be mid-change)."""
    spin = mutex["inner"]
    locked = bool(int(scalar(spin["lock"])))
    return spin["data"]["value"], locked


def locked_static(path, not_ready):
    """(the value inside the kernel's `static path: Mutex<Option<T>>`,
    whether its lock is held); NotReady with `not_ready` while it is still
    None (the subsystem's init has not run)."""
    data, locked = mutex_data(static(path))
    value = unwrap_option(data)
    if value is None:
        raise NotReady(not_ready)
    return value, locked


def vec_items(vec):
    """The elements of a Vec<T>, as gdb values. Since Rust 1.84 the buffer
    pointer is a type-erased NonNull<u8>, so it is cast to *T."""
    length = int(vec["len"])
    pointer = vec["buf"]["inner"]["ptr"]["pointer"]
    element = vec.type.template_argument(0)
    first = pointer.reinterpret_cast(element.pointer())
    return [(first + i).dereference() for i in range(length)]


def slice_items(slice_ref):
    """(pointer to the first element, length) of a `&[T]` or `&mut [T]`."""
    pointer, length = slice_ref["data_ptr"], int(slice_ref["length"])
    return pointer, length


def str_value(str_ref):
    """A Rust `&str` (or `*const str`) as a Python string."""
    pointer, length = slice_items(str_ref)
    if length == 0:
        return ""
    memory = gdb.selected_inferior().read_memory(int(pointer), length)
    return bytes(memory).decode("utf-8", "replace")


def location(loc_ptr):
    """`file:line` of a `&'static core::panic::Location` (a #[track_caller]
    caller, as vmalloc records it)."""
    loc = loc_ptr.dereference()
    return "%s:%d" % (str_value(loc["filename"]["pointer"]), int(loc["line"]))


def dyn_concrete(box):
    """The object behind a `Box<dyn Trait>`, cast to its real type. The
    vtable's first entry is the object's drop function, whose name spells
    the type out: `core::ptr::drop_glue<T>` (or drop_in_place<T>)."""
    drop = int(box["vtable"].dereference()[0])
    block = gdb.block_for_pc(drop)
    if block is None or block.function is None:
        raise gdb.GdbError("cannot tell the type behind the trait object at %#x" % int(box["pointer"]))
    name = block.function.name
    concrete = name[name.index("<") + 1 : name.rindex(">")]
    return box["pointer"].cast(gdb.lookup_type(concrete).pointer()).dereference()


def static(path):
    """A kernel static by its Rust path, e.g. `mm::vmalloc::VMALLOC`."""
    try:
        return gdb.parse_and_eval("mosaic_kernel::" + path)
    except gdb.error as e:
        raise gdb.GdbError("cannot read mosaic_kernel::%s (are the kernel's symbols loaded?): %s" % (path, e))


def address_arg(arg, command):
    """The address a command was given: any gdb expression (`0x1000`,
    `$rsp`, `addr`, `ptr as u64`), as an unsigned 64-bit number."""
    if not arg.strip():
        raise gdb.GdbError("usage: %s <address or expression>" % command)
    try:
        return int(gdb.parse_and_eval(arg)) & (1 << 64) - 1
    except gdb.error as e:
        raise gdb.GdbError("%s: %s" % (command, e))
