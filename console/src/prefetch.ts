// Requests started ahead of the component that shows them: the campaign page starts its report's
// requests while the campaign itself loads, instead of one after the other. The first `take`
// gets the answer in flight; any later one (a refresh, the report after a send) asks afresh.
const pending = new Map<string, Promise<unknown>>();

/** Starts `load` under `key` unless a request under it is already waiting to be taken. */
export function prefetch<T>(key: string, load: () => Promise<T>): void {
  if (pending.has(key)) return;
  const started = load();
  started.catch(() => {}); // a failure is reported to whoever takes it
  pending.set(key, started);
}

/** The prefetched request under `key` (once), else a fresh `load()`. */
export function take<T>(key: string, load: () => Promise<T>): Promise<T> {
  const started = pending.get(key) as Promise<T> | undefined;
  if (started) {
    pending.delete(key);
    return started;
  }
  return load();
}
