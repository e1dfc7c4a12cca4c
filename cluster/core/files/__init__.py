"""Hash-placed files, the pure part: what a file's metadata is (meta.py), which
names a file may have (names.py) and which nodes should hold each chunk
(plan.py). No disk, no network: the node shell (cluster/node/files_*.py)
does the IO and the Raft state machine (cluster/core/kv.py) stores the metadata."""
