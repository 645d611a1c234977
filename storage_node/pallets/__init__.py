"""The storage network's pallets: ``StorageNodes`` (20), ``FileBank`` (21) and ``StorageAccess`` (22).

Pure runtime code (no I/O): node registration and reputation (:mod:`.nodes`), files, placement, audits and
repairs (:mod:`.file_bank`), encryption keys, grants and the access log (:mod:`.access`). Their state types
(:mod:`.types`) are what the daemon and the SDK decode storage with. The pallets reach each other only through
the ``Protocol``\\s in their configs; ``runtime.cairn``'s composition list wires them.
"""
