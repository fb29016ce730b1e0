"""The local collector: a server that speaks SmartKarrot's v4 API, for demos and tests.

Importing this package does not import the web stack; ``validation`` is pure Python and shared
with the test suite's strict server.
"""
