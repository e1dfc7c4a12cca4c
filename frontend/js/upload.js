/**
 * Uploading files from the page: drag-and-drop or a file picker, one file
 * at a time, with a progress bar (bytes, MB/s, time left) and a Cancel.
 *
 * Why a plain XMLHttpRequest with the File as its body: the browser then
 * streams the file from disk (no copy of a 1 GiB file in the page's memory),
 * and `xhr.upload.onprogress` reports the bytes sent, which fetch() cannot.
 * The body goes raw to `POST /api/files?name=...` with the instructor token
 * in the Authorization header (never in the URL); the backend cuts it into
 * chunks and sends each to its replicas through an entry node, so while the
 * bar fills the chunks fly as ChunkPut dots on the topology.
 *
 * Two phases, shown as such: the bar at 100 % means the backend has every
 * byte; the upload is done only when the answer comes, after every chunk has
 * RF durable copies and the metadata is committed through Raft. Cancelling
 * midway commits nothing, so no half file ever becomes visible.
 */
import { lab } from "./state.js";
import { formatBytes } from "./format.js";

const TOKEN_KEY = "clusterlab.instructorToken"; // the key controls.js stores it under
// Files dropped at once wait in line; more than this is a mistake (a folder?).
const MAX_UPLOAD_QUEUE = 16;
// The progress text is rewritten at most this often (onprogress fires faster).
const PROGRESS_TEXT_MS = 200;
const SHA_PREFIX_CHARS = 12;

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/**
 * Wire the upload controls. `status(text, isError)` writes the panel's status
 * line; `onUploaded(name)` is called after a file was committed.
 */
export function createUploader({ dropTargets, fileInput, box, progressBar, progressText, cancelButton, status, onUploaded }) {
  const queue = []; // Files waiting to be uploaded
  let current = null; // {file, xhr, startedMs, textWrittenMs}
  // What was uploaded, for the browser tests.
  const uploads = { done: 0, failed: 0, last: null };
  lab.uploads = uploads;

  function enqueue(fileList) {
    if (!token()) {
      status("Unlock the instructor controls to upload.", true);
      return;
    }
    for (const file of fileList) {
      if (queue.length >= MAX_UPLOAD_QUEUE) {
        status(`At most ${MAX_UPLOAD_QUEUE} files wait in line; drop the rest later.`, true);
        break;
      }
      queue.push(file);
    }
    if (!current) next();
  }

  function next() {
    const file = queue.shift();
    if (!file) {
      current = null;
      box.hidden = true;
      return;
    }
    const xhr = new XMLHttpRequest();
    current = { file, xhr, startedMs: performance.now(), textWrittenMs: 0 };
    box.hidden = false;
    box.dataset.phase = "sending";
    progressBar.value = 0;
    progressText.textContent = `${file.name}: starting…`;
    xhr.open("POST", `/api/files?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.upload.onload = () => {
      // Every byte reached the backend; the answer waits for RF copies and the commit.
      progressBar.value = 1;
      box.dataset.phase = "committing";
      progressText.textContent = `${file.name}: replicating and committing through Raft…`;
    };
    xhr.onload = () => finish(file, xhr);
    xhr.onerror = () => fail(file, "the connection to the dashboard failed");
    xhr.onabort = () => fail(file, "cancelled; nothing was committed, so no file appears");
    xhr.send(file);
  }

  function onProgress(loaded, total) {
    const nowMs = performance.now();
    progressBar.value = total ? loaded / total : 0;
    if (nowMs - current.textWrittenMs < PROGRESS_TEXT_MS) return;
    current.textWrittenMs = nowMs;
    const seconds = (nowMs - current.startedMs) / 1000;
    const bytesPerS = seconds > 0 ? loaded / seconds : 0;
    const etaS = bytesPerS > 0 ? (total - loaded) / bytesPerS : NaN;
    const eta = Number.isFinite(etaS) ? ` · ${Math.ceil(etaS)} s left` : "";
    progressText.textContent =
      `${current.file.name}: ${formatBytes(loaded)} of ${formatBytes(total)} · ` +
      `${(bytesPerS / 1e6).toFixed(1)} MB/s${eta}`;
  }

  function finish(file, xhr) {
    let body = {};
    try {
      body = JSON.parse(xhr.responseText || "{}");
    } catch {
      body = {};
    }
    if (xhr.status !== 201 && xhr.status !== 200) {
      const why = xhr.status === 401 ? "the token was refused; unlock the controls again" : body.error;
      fail(file, why ?? `HTTP ${xhr.status}`);
      return;
    }
    const name = body.name ?? file.name;
    uploads.done++;
    uploads.last = { name, status: xhr.status, body };
    const seconds = (performance.now() - current.startedMs) / 1000;
    const chunks = Array.isArray(body.chunks) ? body.chunks.length : body.chunks;
    status(
      `Uploaded ${name}: ${formatBytes(body.size_bytes ?? file.size)} in ${seconds.toFixed(1)} s, ` +
        `${chunks ?? "?"} chunks, version ${body.version ?? "?"}` +
        (body.sha256 ? `, sha256 ${body.sha256.slice(0, SHA_PREFIX_CHARS)}…` : ""),
    );
    onUploaded(name);
    next();
  }

  function fail(file, why) {
    uploads.failed++;
    uploads.last = { name: file.name, status: "failed", error: why };
    status(`Upload of ${file.name} failed: ${why}`, true);
    next();
  }

  cancelButton.addEventListener("click", () => current?.xhr.abort());
  fileInput.addEventListener("change", () => {
    enqueue([...fileInput.files]);
    fileInput.value = ""; // choosing the same file again must fire `change` again
  });

  function acceptDrops(element) {
    element.addEventListener("dragover", (event) => {
      if (!event.dataTransfer?.types?.includes("Files")) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      element.classList.add("drag-over");
    });
    element.addEventListener("dragleave", () => element.classList.remove("drag-over"));
    element.addEventListener("drop", (event) => {
      element.classList.remove("drag-over");
      if (!event.dataTransfer?.files?.length) return;
      event.preventDefault();
      event.stopPropagation();
      enqueue([...event.dataTransfer.files]);
    });
  }
  for (const target of dropTargets) acceptDrops(target);
  // A file dropped anywhere else would make the browser open it in place of
  // the dashboard, in the middle of a lecture.
  for (const type of ["dragover", "drop"]) {
    window.addEventListener(type, (event) => {
      if (event.dataTransfer?.types?.includes("Files")) event.preventDefault();
    });
  }
}
