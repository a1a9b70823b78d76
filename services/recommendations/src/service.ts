// The service's logic, on a state store it declares here (the Dapr state
// API through the sidecar in production, a map in unit tests).
import { addOrder, readTogether, top, type Recommendation, type Together } from "./together.js";

export interface Stored {
  value: unknown;
  etag: string;
}

// A write of one transaction: guarded by etag when given; insertOnly fails
// when the key exists; ttlSeconds lets the store forget the record.
export interface Write {
  key: string;
  value: unknown;
  etag?: string;
  insertOnly?: boolean;
  ttlSeconds?: number;
}

// Store is what this service needs of a state store.
export interface Store {
  // read returns the records of keys that exist, with their ETags.
  read(keys: string[]): Promise<Map<string, Stored>>;
  // write applies writes all or nothing; a lost race (an ETag refused, an
  // insert over a record) throws ConflictError and applies nothing.
  write(writes: Write[]): Promise<void>;
}

export class ConflictError extends Error {
  override name = "ConflictError";
}

export const togetherKey = (productId: string) => `together-${productId}`;
export const eventKey = (eventId: string) => `event-${eventId}`;

// markerTTL keeps an applied event's marker for twice the streams'
// retention (7 days), as the Go consumers do: long enough to catch any
// redelivery, and the store does not grow without bound.
export const markerTTLSeconds = 14 * 24 * 60 * 60;

// maxAttempts bounds the optimistic-concurrency runs of one event; past
// it, the event is answered RETRY and Dapr redelivers it later.
export const maxAttempts = 5;

export class Recommendations {
  constructor(
    private readonly store: Store,
    private readonly now: () => Date = () => new Date(),
    private readonly pause: (attempt: number) => Promise<void> = jitteredPause,
  ) {}

  // applyOrder counts one completed order's products as bought together,
  // once per event id: the event's marker (insert-only) and every product's
  // record (each guarded by its ETag, or inserted) go in one transaction,
  // after one bulk read of them all. A redelivered event finds its marker
  // and changes nothing (false); two orders racing on one product conflict,
  // and the loser reads again.
  async applyOrder(eventId: string, orderId: string, products: readonly string[]): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.applyOnce(eventId, orderId, products);
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= maxAttempts) throw err;
        await this.pause(attempt);
      }
    }
  }

  private async applyOnce(eventId: string, orderId: string, products: readonly string[]): Promise<boolean> {
    const keys = [eventKey(eventId), ...products.map(togetherKey)];
    const found = await this.store.read(keys);
    if (found.has(eventKey(eventId))) return false;
    const current = new Map<string, Together>();
    for (const p of products) {
      const rec = found.get(togetherKey(p));
      if (rec) current.set(p, readTogether(rec.value));
    }
    const writes: Write[] = [
      { key: eventKey(eventId), value: { order_id: orderId, applied_at: this.now().toISOString() }, insertOnly: true, ttlSeconds: markerTTLSeconds },
    ];
    // A single product has no partner: only the marker is written.
    if (products.length > 1) {
      for (const [p, t] of addOrder(current, products)) {
        const rec = found.get(togetherKey(p));
        writes.push(rec ? { key: togetherKey(p), value: t, etag: rec.etag } : { key: togetherKey(p), value: t, insertOnly: true });
      }
    }
    await this.store.write(writes);
    return true;
  }

  // forProduct is the limit products bought most often with productId.
  async forProduct(productId: string, limit: number): Promise<Recommendation[]> {
    const found = await this.store.read([togetherKey(productId)]);
    const rec = found.get(togetherKey(productId));
    return top(rec ? readTogether(rec.value) : undefined, limit);
  }
}

// jitteredPause waits 10-30 ms times the attempt: racing writers of one
// record spread out instead of colliding again.
function jitteredPause(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, attempt * (10 + Math.random() * 20)));
}
