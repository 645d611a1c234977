"""Cairn storage_node package."""
