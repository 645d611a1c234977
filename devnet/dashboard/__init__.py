"""The devnet's dashboard: a web page that shows the whole system live, served by a small daemon.

The page (``static/``: plain HTML, CSS and JavaScript modules, nothing fetched from the internet) talks to a
validator's JSON-RPC over WebSocket straight from the browser: chain heads by subscription, the layers'
``storage_*``, ``da_*`` and ``compute_*`` read methods on each finalized head. The daemon
(:mod:`devnet.dashboard.daemon`) serves those files, tells the page which validators to connect to
(``GET /v1/config``), and is itself a DA light client: it samples the blobs the chain marks available and
answers what it found (``GET /v1/sampling``), which a browser could not do (KZG proofs, read proofs).
"""
