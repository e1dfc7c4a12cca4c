/**
 * Sizes as people read them, shared by the file views so "1.0 MiB" means the
 * same thing in the upload bar, the file list and the placement table.
 * Binary units (KiB, MiB) because chunk sizes are powers of two: a chunk is
 * exactly 1 MiB, not "1.05 MB".
 */

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "—";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : value.toFixed(0)} ${units[unit]}`;
}
