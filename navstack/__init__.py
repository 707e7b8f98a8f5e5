"""navstack: an embodied navigation agent stack.

The top level stays import-light (no torch / open3d) so `navstack --help` is instant;
heavy dependencies are imported inside the modules that need them.
"""

__version__ = "0.1.0"
