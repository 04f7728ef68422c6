"""Puts `trainer/` on sys.path so the tests import `text2sql_trainer` from any working directory."""

import os
import sys

TRAINER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TRAINER_DIR not in sys.path:
    sys.path.insert(0, TRAINER_DIR)
