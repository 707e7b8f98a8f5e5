"""`navstack train clip`: train the embedded-world CLIP model (open_clip model code + ClipLoss) on CPU.

Pipeline: render (or load cached) object crops from training-seed houses (:mod:`clip_data`), caption
each crop afresh every epoch (category words, colour, size, material, room, neighbour, prompt
variety), train a small open_clip architecture registered with ``open_clip.add_model_config``
(:data:`MODEL_CFG`) with open_clip's ``ClipLoss``, write ``navstack_clip.safetensors`` (float16) and
``navstack_clip.json`` (architecture, preprocessing, tokenizer, provenance, held-out metrics) atomically,
then evaluate on held-out houses (:func:`evaluate`, also used by ``benchmarks/bench_clip.py``).

Everything is seeded; the result depends only on the options (and the torch build). Top-level
imports are light so ``navstack --help`` does not load torch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from navstack.perception.clip_encoder import (
    CONFIG_FORMAT,
    DEFAULT_MODEL_CONFIG,
    DEFAULT_MODEL_NAME,
    DEFAULT_WEIGHTS,
    ClipConfig,
    ClipEncoder,
    retrieval_order_note if False else DEFAULT_WEIGHTS as _unused,  # noqa: F401  (keeps the import list sorted)
)
