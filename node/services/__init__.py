"""The node's services: each a trio task with one responsibility, composed by ``node.service.Node``.

    block_import   verify and execute blocks from peers, add them to the chain
    authorship     in our Aura slots: build a block from the pool, seal it, import it, announce it
    finality       GRANDPA-style voting rounds, justifications, commits
    sync           how blocks arrive: announcements by gossip, ranges by request from peers ahead of us
    admission      transactions: validation in batches, the pool, watchers, transaction gossip

Each follows DESIGN.md rule 5: the constructor takes its dependencies and does no I/O; ``run(task_status=)``
reports ready; the caller's nursery owns it. They share the node's :class:`~node.chain.Chain`.
"""
