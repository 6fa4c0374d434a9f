# The mosaic_gdb package: gdb helpers that read Mosaic's own memory-manager
# records out of the stopped guest, as Linux's scripts/gdb does for Linux.
#
# Nothing here runs code in the guest: every command only reads memory,
# so it is safe at any stop, even with a lock held (the commands say so
# when the records they read are locked, since they may be mid-change).

import gdb

from . import breakpoints, buddy, explain, pagetable, printers, vmalloc


def register():
    printers.register()
    for module in (pagetable, vmalloc, buddy, explain, breakpoints):
        module.register()
    # Addresses and flags read best in hex; `print/d` still gives decimal.
    gdb.execute("set output-radix 16")
