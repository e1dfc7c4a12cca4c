"""Wire messages, telemetry events and the frame codec: the vocabulary shared by
nodes, the simulator, the backend hub and the client. Pure; imports nothing of
ours outside this package."""
