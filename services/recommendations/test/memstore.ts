// A Store in memory with the sidecar's semantics as the service relies on
// them (held to the real daprd by tests/recommendations_test.go): writes
// all or nothing, an ETag that is not the record's and an insert over a
// record are lost races.
import { ConflictError, type Store, type Stored, type Write } from "../src/service.js";

export class MemoryStore implements Store {
  readonly records = new Map<string, Stored & { ttlSeconds?: number }>();
  private version = 0;
  reads = 0;
  // beforeWrite runs before each write is checked: a test's concurrent writer.
  beforeWrite: (() => void) | undefined;
  failWith: Error | undefined;

  async read(keys: string[]): Promise<Map<string, Stored>> {
    this.reads++;
    if (this.failWith) throw this.failWith;
    const found = new Map<string, Stored>();
    for (const k of keys) {
      const r = this.records.get(k);
      if (r) found.set(k, { value: structuredClone(r.value), etag: r.etag });
    }
    return found;
  }

  async write(writes: Write[]): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.beforeWrite?.();
    for (const w of writes) {
      const r = this.records.get(w.key);
      if (w.insertOnly && r) throw new ConflictError(`${w.key} exists`);
      if (w.etag !== undefined && r?.etag !== w.etag) throw new ConflictError(`${w.key}: etag mismatch`);
    }
    for (const w of writes) this.put(w.key, w.value, w.ttlSeconds);
  }

  put(key: string, value: unknown, ttlSeconds?: number): void {
    const rec: Stored & { ttlSeconds?: number } = { value: structuredClone(value), etag: String(++this.version) };
    if (ttlSeconds !== undefined) rec.ttlSeconds = ttlSeconds;
    this.records.set(key, rec);
  }
}
