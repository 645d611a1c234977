"""Cairn devnet package."""
