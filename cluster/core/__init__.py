"""Pure, deterministic logic: Raft, the replicated key-value state machine and
the other algorithms of the lab.

Nothing here touches a socket, a clock, a thread, the disk or the global
random module: inputs are ticks, messages and proposals (plus a seeded
``random.Random``); outputs are values that say what to persist, send, apply
and report. That is what lets the same code run in thousands of seeded
simulations per minute and in real node processes.
"""
