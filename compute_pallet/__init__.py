"""Cairn compute_pallet package."""
