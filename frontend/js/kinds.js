/**
 * Message kinds: the colour each is drawn in, and what it is, in words.
 *
 * Why one table: the dots on the topology, the legend and the Raft view must
 * agree on colours, and a student hovering a legend entry should read what
 * the message means and what its one-line text form looks like (the same
 * canonical form `text()` gives in cluster/schema, used in logs and golden
 * files), e.g. `AppendEntries t3 i7..9 c6`.
 *
 * Colours are colour-blind-safe pairs: a request and its reply share a hue,
 * the reply lighter, so a round trip reads as one conversation.
 */

export const KIND_COLOURS = {
  Heartbeat: "#1f5fbf",
  HeartbeatAck: "#5aaef0",
  Chatter: "#6b6b6b",
  AppendEntries: "#e07b00",
  AppendEntriesReply: "#f2b35e",
  RequestVote: "#c2188b",
  RequestVoteReply: "#ee8ac8",
  PreVote: "#6a3d9a",
  PreVoteReply: "#b39ddb",
  InstallSnapshot: "#7b4a12",
  InstallSnapshotReply: "#c8a47e",
  ReadIndexRequest: "#1b7f3b",
  ReadIndexReply: "#8fd19e",
  KvForward: "#00838f",
  KvForwardReply: "#7fd3da",
  // File chunks: crimson for uploads (entry node → replica), gold for fetches
  // (repair, rebalance, node-side reads), so a repair reads differently from an upload.
  ChunkPut: "#b2182b",
  ChunkPutAck: "#f4a3a8",
  ChunkGet: "#8c6d00",
  ChunkData: "#e3b505",
  ChunkHave: "#37474f",
};

/** What each kind is for, with its canonical text form (cluster/schema/*.py `text()`). */
export const KIND_TEXT = {
  Heartbeat: "Heartbeat: link liveness and round-trip time, every heartbeat interval",
  HeartbeatAck: "HeartbeatAck: the answer to a Heartbeat; its arrival measures the RTT",
  Chatter: "Chatter: background load asked for on the dashboard (POST /api/load)",
  AppendEntries:
    "AppendEntries t3 i7..9 c6 — leader → follower: entries after index 6 (none: a heartbeat), " +
    "and the leader's commit index (§5.3)",
  AppendEntriesReply:
    "AppendEntriesReply t3 ok i9 — follower → leader: my log matches yours up to i9; or " +
    "`reject i5 conflict t2@4`, so the leader backs off fast (§5.3)",
  RequestVote:
    "RequestVote t4 last 9/t3 — candidate → all: vote for me in term 4; my log ends at " +
    "9/t3 (§5.2; only an up-to-date log gets a vote, §5.4.1)",
  RequestVoteReply: "RequestVoteReply t4 granted | refused — one vote per term (§5.2)",
  PreVote:
    "PreVote t4 last 9/t3 — would you vote for me? Changes nobody's term, so a node that " +
    "was cut off cannot disrupt the cluster when it returns (thesis §9.6)",
  PreVoteReply: "PreVoteReply t4 granted | refused (thesis §9.6)",
  InstallSnapshot:
    "InstallSnapshot t3 i120/t3 bytes 0..65536 — the leader sends its snapshot to a " +
    "follower too far behind its compacted log (§7)",
  InstallSnapshotReply: "InstallSnapshotReply t3 i120 next 65536 | installed (§7)",
  ReadIndexRequest:
    "ReadIndexRequest t3 #5 — a follower asks the leader for a read index for a " +
    "linearizable read (thesis §6.4)",
  ReadIndexReply: "ReadIndexReply t3 #5 i42 — read once you have applied index 42 (thesis §6.4)",
  KvForward:
    "KvForward put key #n2:17 — a follower forwards a client's write to the leader",
  KvForwardReply: "KvForwardReply #17 200 i12/t3 — where the forwarded write committed",
  ChunkPut:
    "ChunkPut 3f2a9c1e 1.0 MiB — the upload's entry node sends one chunk to one of its RF " +
    "replicas, hop by hop like any message",
  ChunkPutAck: "ChunkPutAck 3f2a9c1e ok — the replica verified the sha256, wrote and fsynced the chunk",
  ChunkGet:
    "ChunkGet 3f2a9c1e — a node asks a replica for a chunk it is listed for but does not hold " +
    "(repair after a node died, a rebalance, a corrupt copy)",
  ChunkData:
    "ChunkData 3f2a9c1e 1.0 MiB — the chunk's bytes, verified against its sha256 on arrival; " +
    "or `missing` / `corrupt` / `busy`",
  ChunkHave: "ChunkHave 3f2a9c1e | 12 chunks — the sender now holds these chunks (verified, fsynced)",
};
