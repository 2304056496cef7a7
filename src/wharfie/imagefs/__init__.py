"""The shared layer walker: an image's layers as streams of entries, and the tree they stack
into (issues 19 and 21 both read images through it, never through tar code of their own)."""

from wharfie.imagefs.source import ImageSource, open_source
from wharfie.imagefs.tree import Change, Node, Tree
from wharfie.imagefs.walker import Entry, HistoryStep, LayerView, history_steps, walk

__all__ = ["Change", "Entry", "HistoryStep", "ImageSource", "LayerView", "Node", "Tree",
           "history_steps", "open_source", "walk"]
