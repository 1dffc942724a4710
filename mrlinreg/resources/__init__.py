"""Package data: the warehouse schema, dataset schemas and service configuration templates.

They ship inside the package (``setup.cfg`` ``package_data``), so an installed wheel
finds them wherever it runs; the repository's top-level ``schemas/`` and ``conf/`` are
symbolic links to these folders, one source of truth (``tests/unit/test_packaging.py``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """The path of a shipped resource, e.g. ``resource_path("schemas", "warehouse.yaml")``."""
    return Path(str(files(__name__).joinpath(*parts)))
