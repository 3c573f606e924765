"""Grouping flagged stories into real-world events (pure): sketches, anchors, online clusters."""

from .anchors import Anchors, anchors
from .cluster import Grouper, OpenEvent, Placement, Tuning
from .sketch import Sketch, sketch

__all__ = ["Anchors", "Grouper", "OpenEvent", "Placement", "Sketch", "Tuning", "anchors", "sketch"]
