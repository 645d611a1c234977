"""The DA node daemon (``cairn da-node``): custody store, HTTP cell API, attester, auditor, recovery.

Service tier: it imports the pure ``da_layer`` modules and the SDK (its chain client, the cell wire format
and the KZG process pool), never ``node``. Modules: ``store`` (cells on disk), ``http`` (ASGI plumbing),
``daemon`` (the node itself), ``cli`` (the command).
"""
