# Mosaic's gdb scripts: the entry point that `cargo xtask gdb` loads with
# `-x`. It puts this folder on Python's path, then each module registers
# what it adds: pretty-printers (printers.py) and the mosaic-* commands
# (pagetable.py, vmalloc.py, buddy.py, explain.py, breakpoints.py).
# docs/debugging.md shows them at work.

import os
import sys

import gdb

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import mosaic_gdb  # noqa: E402  (needs the path above)

mosaic_gdb.register()
