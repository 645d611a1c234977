"""Cairn SDK: the client library and the ``cairn`` command line."""
