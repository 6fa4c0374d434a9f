# mosaic-break: break on a function by its short name, generic ones too.
#
# `break alloc_area_pte` fails: alloc_area_pte is generic, so the kernel
# holds one copy per type it was used with, each named with its type
# arguments (`alloc_area_pte<core::array::iter::IntoIter<...>>`), and no
# copy is called plain `alloc_area_pte`. `rbreak` finds them but then
# fails on those names too. What every copy shares is its source line, so
# this command finds the definition with `info functions` and breaks on
# `file:line`: one breakpoint, with a location in every copy.

import re

import gdb

ENTRY = re.compile(r"^(\d+):\s+(.*)$")


def strip_generics(name):
    """`a::b<T, c::D<E>>::f<G>` -> `a::b::f`: the path without type
    arguments (brackets balanced, so nested ones go too)."""
    out, depth = [], 0
    for i, ch in enumerate(name):
        if ch == "<":
            depth += 1
        elif ch == ">" and depth and not is_arrow(name, i):
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def is_arrow(text, i):
    """Whether the `>` at `i` ends a `->` (a fn type's return arrow)."""
    return i > 0 and text[i - 1] == "-"


def function_name(declaration):
    """The name in an `info functions` line: `static fn NAME(args) -> R;`
    (the name may hold parentheses inside its type arguments)."""
    text = re.sub(r"^(static )?fn ", "", declaration)
    depth = 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">" and not is_arrow(text, i):
            depth -= 1
        elif ch == "(" and depth == 0:
            return text[:i]
    return text


def definitions(name):
    """{(file, line): [full names]} of the functions whose path, without
    type arguments, is `name` or ends with `::name`."""
    last = name.split("::")[-1]
    listing = gdb.execute("info functions %s" % re.escape(last), to_string=True)
    found, current_file = {}, None
    for line in listing.splitlines():
        if line.startswith("File ") and line.endswith(":"):
            current_file = line[len("File ") : -1]
            continue
        match = ENTRY.match(line)
        if not match or current_file is None:
            continue
        full = function_name(match.group(2))
        path = strip_generics(full)
        if path == name or path.endswith("::" + name):
            found.setdefault((current_file, int(match.group(1))), []).append(full)
    return found


class MosaicBreak(gdb.Command):
    """Break on a function by name, generic functions included.

Usage: mosaic-break <name>
<name> is a function's name or the end of its path: get_vm_area,
alloc_area_pte, Zone::free, vmap_area::list::ListAllocator::first_fit.
A generic function gets one breakpoint with a location in each of its
copies. If several functions match, they are listed: give more of the
path."""

    def __init__(self):
        super().__init__("mosaic-break", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, arg, from_tty):
        name = arg.strip()
        if not name or " " in name:
            raise gdb.GdbError("usage: mosaic-break <function name>, e.g. mosaic-break alloc_area_pte")
        found = definitions(name)
        if not found:
            raise gdb.GdbError("mosaic-break: no function named %s (try `info functions %s`)" % (name, name))
        if len(found) > 1:
            listing = "\n".join(
                "  %s  (%s:%d)" % (strip_generics(names[0]), f, line) for (f, line), names in sorted(found.items())
            )
            raise gdb.GdbError("mosaic-break: %d functions match %s; give more of the path:\n%s" % (len(found), name, listing))
        ((file, line), names), = found.items()
        gdb.Breakpoint("%s:%d" % (file, line))
        copies = "" if len(names) == 1 else " (generic: %d copies)" % len(names)
        gdb.write("mosaic-break: %s at %s:%d%s\n" % (strip_generics(names[0]), file, line, copies))


def register():
    MosaicBreak()
