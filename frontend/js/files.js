/**
 * The Files panel: upload a file by dropping it on the page (upload.js), see
 * it listed with its health, download or delete it, and read its placement
 * table — file → chunks → replicas, each replica coloured by its health.
 *
 * What it never does: fetch per event. Everything drawn comes from the files
 * model (files_data.js), which refetches at most once a second while chunks
 * move; rows are updated in place (d3 joins keyed by file name and chunk
 * index) and a replica cell is rewritten only when its replicas or their
 * health changed, so a repair of hundreds of chunks costs a few small DOM
 * updates a second.
 */
import { lab, subscribe } from "./state.js";
import { files, fileHealth, chunkState, replicasOf, requestRefresh, wantedCopies, MAX_FILES_PLACED } from "./files_data.js";
import { createExplainer } from "./explain.js";
import { createUploader } from "./upload.js";
import { formatBytes } from "./format.js";

const d3 = window.d3;

const TOKEN_KEY = "clusterlab.instructorToken"; // the key controls.js stores it under
// Chunk rows drawn for the selected file; a 1 GiB file has 1,024 chunks and
// nobody reads past the first screens (the ring shows them all).
const MAX_PLACEMENT_ROWS = 128;
// Characters of a sha256 shown in tables: enough to tell chunks apart by eye.
const SHA_PREFIX_CHARS = 12;

const EXPLANATION = `
  <p>Every file is cut into chunks (1 MiB by default). A chunk is named by the
  SHA-256 of its bytes, so two identical chunks are one chunk. The placement
  strategy (see the ring below) picks RF nodes for each chunk from that name;
  the chunks are sent to them as <b>ChunkPut</b> messages, the dots you see on
  the topology during an upload.</p>
  <p>The file list comes from the Raft-replicated metadata: a file appears only
  once every chunk has RF copies on disk and the metadata is committed.
  In the placement table each replica is <span class="replica" data-health="ok">ok</span>
  (the node has the chunk), <span class="replica" data-health="missing">missing</span>
  (listed, but the node does not have it yet — repair is copying it) or
  <span class="replica" data-health="down">down</span> (the node is not running);
  a dashed <span class="replica" data-health="planned">node</span> is where the
  placement wants a copy that is not listed yet (repair or a rebalance will add it).
  Kill a node and watch: after the grace period the leader adds new replicas,
  the chunks being copied blink and the under-replicated count falls to zero.</p>`;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function buildPanel() {
  const section = document.createElement("section");
  section.className = "files";
  section.dataset.testid = "files-panel";
  section.innerHTML = `
    <h2>Files <span class="files-summary" data-testid="files-summary"></span></h2>
    <div class="drop-zone" data-testid="file-drop">
      <span class="drop-hint">Drop files here (or on the topology), or</span>
      <label class="file-pick">choose…
        <input type="file" multiple data-testid="file-input">
      </label>
      <span class="drop-locked">Unlock the instructor controls to upload.</span>
    </div>
    <div class="upload" data-testid="upload" hidden>
      <progress max="1" value="0" data-testid="upload-progress"></progress>
      <span class="upload-text" data-testid="upload-text"></span>
      <button type="button" class="quiet" data-testid="upload-cancel">Cancel</button>
    </div>
    <p class="upload-status" role="status" data-testid="upload-status"></p>
    <table class="file-list" data-testid="file-list">
      <thead><tr><th>name</th><th>size</th><th title="bumped by every change through Raft">version</th>
        <th>chunks</th><th>health</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="files-empty muted" data-testid="files-empty">No files yet.</p>
    <h3>Placement of <span class="placement-name" data-testid="placement-file">—</span>
      <span class="repair-status" data-testid="under-replicated" data-count="0"></span></h3>
    <div class="placement-scroll">
      <table class="placement-table" data-testid="placement-table">
        <thead><tr><th>#</th><th>sha256</th><th>size</th><th>replicas (primary first)</th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
    <p class="placement-more muted" data-testid="placement-more"></p>`;
  section.querySelector("h2").after(createExplainer(EXPLANATION, "explain-files"));
  return section;
}

export function createFiles({ panelContainer, dropTargets = [] }) {
  const panel = buildPanel();
  panelContainer.append(panel);
  const q = (selector) => panel.querySelector(selector);
  const dropZone = q('[data-testid="file-drop"]');
  const fileInput = q('[data-testid="file-input"]');
  const statusLine = q('[data-testid="upload-status"]');
  const listBody = q('[data-testid="file-list"] tbody');
  const placementBody = q('[data-testid="placement-table"] tbody');
  const repairStatus = q('[data-testid="under-replicated"]');

  let selected = null; // the file whose placement table is shown (null: the newest)
  // For the browser tests: which file's placement is shown.
  lab.filesPanel = { selected: () => selectedName() };

  function status(text, isError = false) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error", isError);
  }

  createUploader({
    dropTargets: [dropZone, ...dropTargets],
    fileInput,
    box: q('[data-testid="upload"]'),
    progressBar: q('[data-testid="upload-progress"]'),
    progressText: q('[data-testid="upload-text"]'),
    cancelButton: q('[data-testid="upload-cancel"]'),
    status,
    onUploaded(name) {
      selected = name;
      requestRefresh({ names: [name] });
    },
  });

  // ---- list ----

  function selectedName() {
    if (selected && files.list.some((f) => f.name === selected)) return selected;
    return files.list[0]?.name ?? null;
  }

  async function deleteFile(name) {
    const bearer = token();
    if (!bearer) return;
    if (!window.confirm(`Delete ${name} from the cluster?`)) return;
    status(`Deleting ${name}…`);
    try {
      const response = await fetch(`/api/files/${encodeURIComponent(name)}`, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${bearer}` },
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) status(`Delete ${name} failed: ${body.error ?? response.status}`, true);
      else status(`Deleted ${name} (version ${body.version ?? "?"}); its chunks are collected on every node.`);
    } catch (err) {
      status(`Delete ${name} failed: ${err.message}`, true);
    }
    requestRefresh({ names: [name] });
  }

  function renderList() {
    const chosen = selectedName();
    const rows = d3
      .select(listBody)
      .selectAll("tr")
      .data(files.list, (f) => f.name)
      .join((enter) => {
        const tr = enter.append("tr");
        tr.append("td").attr("class", "file-name");
        tr.append("td").attr("class", "file-size");
        tr.append("td").attr("class", "file-version");
        tr.append("td").attr("class", "file-chunks");
        tr.append("td").attr("class", "file-health").append("span").attr("class", "health");
        const actions = tr.append("td").attr("class", "file-actions");
        actions.append("a").attr("class", "download").text("download");
        actions.append("button").attr("type", "button").attr("class", "file-delete quiet").text("delete");
        tr.on("click", (event, f) => {
          if (event.target.closest("a, button")) return;
          selected = f.name;
          render();
        });
        return tr;
      })
      .attr("data-file", (f) => f.name)
      .classed("selected", (f) => f.name === chosen);
    rows.select(".file-name").text((f) => f.name).attr("title", (f) => (f.sha256 ? `sha256 ${f.sha256}\nmd5 ${f.md5 ?? "—"}` : ""));
    rows.select(".file-size").text((f) => formatBytes(f.size_bytes));
    rows.select(".file-version").text((f) => f.version ?? "—");
    rows.select(".file-chunks").text((f) => (Array.isArray(f.chunks) ? f.chunks.length : (f.chunks ?? "—")));
    rows
      .select(".health")
      .attr("data-health", (f) => fileHealth(f.name))
      .text((f) => fileHealth(f.name));
    rows
      .select("a.download")
      .attr("href", (f) => `/api/files/${encodeURIComponent(f.name)}`)
      .attr("download", (f) => f.name)
      .attr("data-testid", (f) => `download-${f.name}`);
    rows
      .select("button.file-delete")
      .attr("data-testid", (f) => `delete-${f.name}`)
      .on("click", (_event, f) => deleteFile(f.name));
    const count = files.list.length;
    q('[data-testid="files-empty"]').hidden = count > 0;
    const more = count > MAX_FILES_PLACED ? ` (placement shown for the newest ${MAX_FILES_PLACED})` : "";
    q('[data-testid="files-summary"]').textContent = files.error
      ? `⚠ ${files.error}`
      : `${count} file${count === 1 ? "" : "s"}${more}`;
    q('[data-testid="files-summary"]').classList.toggle("warn", Boolean(files.error));
  }

  // ---- placement table ----

  function renderPlacement() {
    const name = selectedName();
    q('[data-testid="placement-file"]').textContent = name ?? "—";
    const placement = name ? files.placements.get(name) : null;
    const chunks = (placement?.chunks ?? []).map((c, i) => ({ ...c, index: c.index ?? i }));
    const shown = chunks.slice(0, MAX_PLACEMENT_ROWS);
    const wanted = wantedCopies();
    const blinking = files.blinking;
    const rows = d3
      .select(placementBody)
      .selectAll("tr")
      .data(shown, (c) => c.index)
      .join((enter) => {
        const tr = enter.append("tr");
        tr.append("td").attr("class", "chunk-index");
        tr.append("td").attr("class", "chunk-sha");
        tr.append("td").attr("class", "chunk-size");
        tr.append("td").attr("class", "chunk-replicas");
        return tr;
      })
      .attr("data-chunk", (c) => c.index)
      .attr("data-sha", (c) => c.sha256)
      .attr("data-state", (c) => chunkState(c, wanted))
      .classed("blink", (c) => blinking.has(c.sha256));
    rows.select(".chunk-index").text((c) => c.index);
    rows
      .select(".chunk-sha")
      .text((c) => `${String(c.sha256).slice(0, SHA_PREFIX_CHARS)}…`)
      .attr("title", (c) => c.sha256);
    rows.select(".chunk-size").text((c) => formatBytes(c.size_bytes));
    rows.select(".chunk-replicas").each(function (c) {
      // Rewritten only when the replicas or their health changed.
      const replicas = replicasOf(c);
      // Where the placement wants the chunk but it is not listed yet: the
      // next copy repair or a rebalance will make.
      const listed = new Set(replicas.map((r) => r.node));
      for (const node of c.desired ?? []) if (!listed.has(node)) replicas.push({ node, health: "planned" });
      const signature = replicas.map((r) => `${r.node}:${r.health}`).join(",");
      if (this.dataset.signature === signature) return;
      this.dataset.signature = signature;
      d3.select(this)
        .selectAll("span.replica")
        .data(replicas)
        .join("span")
        .attr("class", "replica")
        .attr("data-node", (r) => r.node)
        .attr("data-health", (r) => r.health)
        .attr("title", (r) =>
          r.health === "planned" ? `${r.node}: the placement wants a copy here; not listed yet` : `${r.node}: ${r.health}`,
        )
        .text((r) => r.node);
    });
    q('[data-testid="placement-more"]').textContent =
      chunks.length > shown.length
        ? `first ${shown.length} of ${chunks.length} chunks (the ring shows them all)`
        : name && !placement
          ? "loading the placement…"
          : "";

    const under = files.underReplicated;
    repairStatus.dataset.count = String(under);
    repairStatus.dataset.copying = String(blinking.size);
    repairStatus.classList.toggle("warn", under > 0);
    repairStatus.textContent =
      `${under} under-replicated of ${files.chunksTotal} chunks` +
      (blinking.size ? ` · ${blinking.size} being copied now` : "") +
      (files.counts.repairsSeen ? ` · ${files.counts.repairsSeen} copies repaired since this page opened` : "");
  }

  function render() {
    renderList();
    renderPlacement();
  }

  subscribe("files", render);
  subscribe("files-blink", renderPlacement); // rows are updated in place
  render();
}
