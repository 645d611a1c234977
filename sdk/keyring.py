"""Keys for SDK users: the runtime's key derivation (``//Alice``-style URIs, seeds), re-exported.

Derivation lives in ``runtime.keyring`` because the node (keystore, chain spec presets) needs it too and
the node never imports the SDK (DESIGN.md, import tiers).
"""

from runtime.keyring import DEV_ACCOUNTS, DEV_PHRASE, InvalidSecretUri, Keypair

__all__ = ["Keypair", "DEV_PHRASE", "DEV_ACCOUNTS", "InvalidSecretUri"]
