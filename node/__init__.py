"""Cairn node package."""
