"""Cairn da_layer package."""
