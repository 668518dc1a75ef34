"""
The semantic classes of the generated scenes: one list shared by the indoor and street kinds.

The id of a class is its position in ``CLASS_NAMES``; label maps store it as uint8 and 0 means
unlabelled (no generated pixel is 0, but datasets that merge sources rely on it).
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

CLASS_NAMES: Tuple[str, ...] = (
    'unlabelled',
    'floor',
    'wall',
    'ceiling',
    'furniture',
    'object',
    'door',
    'window',
    'road',
    'sidewalk',
    'building',
    'car',
    'pole',
    'sky',
    'vegetation',
)

CLASS_IDS: Dict[str, int] = {name: index for index, name in enumerate(CLASS_NAMES)}

UNLABELLED = CLASS_IDS['unlabelled']
FLOOR = CLASS_IDS['floor']
WALL = CLASS_IDS['wall']
CEILING = CLASS_IDS['ceiling']
FURNITURE = CLASS_IDS['furniture']
OBJECT = CLASS_IDS['object']
DOOR = CLASS_IDS['door']
WINDOW = CLASS_IDS['window']
ROAD = CLASS_IDS['road']
SIDEWALK = CLASS_IDS['sidewalk']
BUILDING = CLASS_IDS['building']
CAR = CLASS_IDS['car']
POLE = CLASS_IDS['pole']
SKY = CLASS_IDS['sky']
VEGETATION = CLASS_IDS['vegetation']

# RGB colour of each class in preview pictures (Cityscapes-like where a class has a counterpart).
PALETTE = np.array(
    [
        (0, 0, 0),  # unlabelled
        (128, 64, 128),  # floor
        (102, 102, 156),  # wall
        (190, 153, 153),  # ceiling
        (250, 170, 30),  # furniture
        (220, 220, 0),  # object
        (140, 90, 40),  # door
        (0, 160, 220),  # window
        (90, 40, 110),  # road
        (244, 35, 232),  # sidewalk
        (70, 70, 70),  # building
        (0, 0, 142),  # car
        (153, 153, 153),  # pole
        (70, 130, 180),  # sky
        (107, 142, 35),  # vegetation
    ],
    dtype=np.uint8,
)


def colorize_labels(labels: np.ndarray) -> np.ndarray:
    """Return the RGB uint8 palette picture of a label map (ids outside the list are black)."""
    ids = np.where(labels < len(PALETTE), labels, 0)
    return PALETTE[ids]
