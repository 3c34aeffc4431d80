"""Ready-made components: read and write files, feed and collect values in memory.

``FileReader``/``FileWriter`` keep Plugboard's names and arguments (``plugboard.library``),
so a Plugboard YAML model's ``plugboard.library.file_io.FileWriter`` maps to
``tapeflow.engine.library.file_io.FileWriter``.
"""

from .file_io import FileFormatError, FileReader, FileWriter
from .memory_io import ListReader, ListWriter

__all__ = ["FileFormatError", "FileReader", "FileWriter", "ListReader", "ListWriter"]
