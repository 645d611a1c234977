"""The storage node daemon (service tier: trio, files, sockets; imports pure modules and the SDK).

Modules, bottom up: ``store`` (fragments as files, crash-safe writes, capacity), ``body`` (the API's fragment
paths), ``replay`` (signatures seen inside the auth window), ``metrics``, ``chain`` (what the node
reads from the storage pallets), ``api`` (the HTTP API, a raw ASGI app), ``confirmer`` (batched on-chain
confirmations), ``prover`` (audit answers), ``repairer`` (repair orders), ``daemon`` (``StorageNode``: all of
it, following finalized blocks) and ``cli`` (``cairn storage-node``).
"""
