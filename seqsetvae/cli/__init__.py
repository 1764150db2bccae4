"""The ``seqsetvae`` command line: ``main`` parses, one module per subcommand does the work, and
``common`` holds what they share."""

from .main import main

__all__ = ["main"]
