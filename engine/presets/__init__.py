"""Paper presets: each seed paper's main settings as ready-made comparisons, with the numbers it reports.

Importing this package registers every preset module in it (one per paper). ``paper_numbers(key)`` gives
the paper's printed numbers for a preset with our metric names where they correspond.
"""

import importlib
import pkgutil

from engine.presets.base import PAPERS, PRESETS, Paper, PaperRef, Preset, register
from engine.presets.numbers import METRIC_MAP, map_rows, paper_numbers, paper_table

NON_PRESET_MODULES = frozenset({"base", "numbers"})

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name not in NON_PRESET_MODULES and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

# menu order: the seed papers in their numbering (000 ... 004), CPU presets before full-size ones
PRESETS.reorder(sorted(PRESETS.keys(), key=lambda k: (list(PAPERS).index(PRESETS.get(k).paper),
                                                      PRESETS.get(k).gpu_recommended)))

__all__ = ["METRIC_MAP", "NON_PRESET_MODULES", "PAPERS", "PRESETS", "Paper", "PaperRef", "Preset", "map_rows",
           "paper_numbers", "paper_table", "register"]
