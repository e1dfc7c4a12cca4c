/**
 * A bounded Map that forgets its oldest entries in bulk: two generations.
 *
 * Why not one Map trimmed with `map.delete(map.keys().next().value)`: V8
 * leaves a hole for every deleted entry until the table is rebuilt, and
 * `keys().next()` walks over all the holes at the front. Trimming one entry
 * per insert on a full map of 20,000 half-hops then scans thousands of holes
 * per event; measured in the dashboard, that alone cost a busy page most of
 * a core, and the further the page fell behind the more it cost.
 *
 * Here new entries go into the young generation; when it holds half the
 * limit, or when the owner says its entries are old enough, the old
 * generation is dropped whole (each of its entries handed to `onForget`
 * once) and the young one becomes the old one. Every entry therefore lives
 * between one and two generations, and each insert costs O(1).
 */

export function createGenerations(maxEntries, onForget = null) {
  const generationMax = Math.max(1, Math.floor(maxEntries / 2));
  let young = new Map();
  let old = new Map();

  function rotate() {
    if (onForget) for (const [key, value] of old) onForget(key, value);
    old = young;
    young = new Map();
  }

  return {
    get(key) {
      const value = young.get(key);
      return value !== undefined ? value : old.get(key);
    },
    set(key, value) {
      old.delete(key); // one entry per key, or a stale twin would be "forgotten" later
      young.set(key, value);
      if (young.size >= generationMax) rotate();
    },
    /** Remove `key`; true if it was there. */
    delete(key) {
      return young.delete(key) || old.delete(key);
    },
    get size() {
      return young.size + old.size;
    },
    /** Forget the old generation now (the owner's clock says it is stale). */
    rotate,
  };
}
