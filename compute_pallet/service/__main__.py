"""``python -m compute_pallet.service``: the ``cairn provider`` command (what the devnet launches)."""

from compute_pallet.service.cli import provider

provider(prog_name="cairn provider")
