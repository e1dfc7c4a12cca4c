"""Placement cores: which nodes store a key (hash functions, modulo, consistent
hashing, rendezvous), and how much each strategy moves and balances data."""
