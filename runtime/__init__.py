"""Cairn runtime package."""
