"""The IO shell of one node process (``python -m cluster.node``).

Everything here exists to connect the pure parts of a node to the real world:
asyncio TCP links to the neighbours, timers that stretch with slow motion, the
telemetry stream to the dashboard, a small HTTP port for clients, and the
process lifecycle (signals, parent death). Later layers plug in through
``Node.send`` / ``Node.on`` and ``Router.add`` (docs/node.md).
"""
