"""Consensus: who may author which block (Aura slots) and when a block is final (GRANDPA-style votes)."""
