"""The compute provider daemon (service tier: trio, files, sockets, subprocesses; imports pure modules and the SDK).

Modules, bottom up: ``runner`` (the job subprocess: one kind, its outputs and report), ``execution`` (starting
the runner under CPU, memory and wall-time limits), ``journal`` (what a job needs to survive a restart),
``hardware`` (what the machine offers), ``metrics``, ``http`` (``/v1/health``, ``/metrics``), ``chain`` (what
the provider reads from and sends to the compute pallets), ``jobs`` (one assignment from fetch to reveal),
``daemon`` (``Provider``: registration, heartbeats, following the chain) and ``cli`` (``cairn provider``).
"""
