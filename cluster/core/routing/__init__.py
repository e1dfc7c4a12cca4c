"""Routing cores: each node computes its own forwarding table (link-state or
distance-vector) from hellos and advertisements, with no IO of its own; the
node shell and the simulator drive them with ticks and messages."""
