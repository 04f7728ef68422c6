"""Makes `python3 -m unittest discover` from `trainer/` find these tests (as the package `tests`).

The test modules `import _path` as a top-level module (so `-s trainer/tests` works too): this folder goes on
sys.path for that.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
