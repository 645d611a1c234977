"""The DA layer's client side: submit blobs, sample them as a light client, reconstruct them.

Modules, bottom up: ``wire`` (the DA node HTTP API's byte formats), ``pool`` (KZG work in worker processes),
``peers`` (calls to DA nodes), ``chain`` (a blob, its node set and custody as the chain records them).
"""
