import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConflictError, Recommendations, eventKey, markerTTLSeconds, maxAttempts, togetherKey } from "../src/service.js";
import { MemoryStore } from "./memstore.js";

const noPause = async () => {};
const now = () => new Date("2026-12-06T10:00:00Z");

describe("Recommendations", () => {
  it("counts an order's products together, with the event's marker", async () => {
    const store = new MemoryStore();
    const svc = new Recommendations(store, now, noPause);
    assert.equal(await svc.applyOrder("ev-1", "order-1", ["a", "b"]), true);
    assert.deepEqual(await svc.forProduct("a", 5), [{ product_id: "b", orders: 1 }]);
    assert.deepEqual(await svc.forProduct("b", 5), [{ product_id: "a", orders: 1 }]);
    const marker = store.records.get(eventKey("ev-1"));
    assert.deepEqual(marker?.value, { order_id: "order-1", applied_at: "2026-12-06T10:00:00.000Z" });
    assert.equal(marker?.ttlSeconds, markerTTLSeconds);
  });

  it("applies a redelivered event once", async () => {
    const store = new MemoryStore();
    const svc = new Recommendations(store, now, noPause);
    assert.equal(await svc.applyOrder("ev-1", "order-1", ["a", "b"]), true);
    assert.equal(await svc.applyOrder("ev-1", "order-1", ["a", "b"]), false);
    assert.deepEqual(await svc.forProduct("a", 5), [{ product_id: "b", orders: 1 }]);
  });

  it("adds distinct orders up", async () => {
    const svc = new Recommendations(new MemoryStore(), now, noPause);
    await svc.applyOrder("ev-1", "order-1", ["a", "b"]);
    await svc.applyOrder("ev-2", "order-2", ["a", "b", "c"]);
    assert.deepEqual(await svc.forProduct("a", 5), [
      { product_id: "b", orders: 2 },
      { product_id: "c", orders: 1 },
    ]);
    assert.deepEqual(await svc.forProduct("a", 1), [{ product_id: "b", orders: 2 }]);
  });

  it("writes only the marker for an order of one product", async () => {
    const store = new MemoryStore();
    const svc = new Recommendations(store, now, noPause);
    assert.equal(await svc.applyOrder("ev-1", "order-1", ["a"]), true);
    assert.deepEqual([...store.records.keys()], [eventKey("ev-1")]);
    assert.equal(await svc.applyOrder("ev-1", "order-1", ["a"]), false);
  });

  it("reads again after losing a race, and counts both orders", async () => {
    const store = new MemoryStore();
    const svc = new Recommendations(store, now, noPause);
    await svc.applyOrder("ev-1", "order-1", ["a", "b"]);
    let raced = false;
    store.beforeWrite = () => {
      if (raced) return;
      raced = true; // another replica applies ev-2 between our read and write
      store.put(togetherKey("a"), { counts: { b: 2 } });
      store.put(togetherKey("b"), { counts: { a: 2 } });
    };
    assert.equal(await svc.applyOrder("ev-3", "order-3", ["a", "b"]), true);
    assert.equal(store.reads, 3, "one read for ev-1, two for ev-3");
    assert.deepEqual(await svc.forProduct("a", 5), [{ product_id: "b", orders: 3 }]);
  });

  it("finds its marker after a racing delivery of the same event won", async () => {
    const store = new MemoryStore();
    const svc = new Recommendations(store, now, noPause);
    store.beforeWrite = () => {
      store.beforeWrite = undefined;
      store.put(eventKey("ev-1"), { order_id: "order-1" });
    };
    assert.equal(await svc.applyOrder("ev-1", "order-1", ["a", "b"]), false);
    assert.equal(store.records.has(togetherKey("a")), false);
  });

  it("gives up after maxAttempts races, pausing between them", async () => {
    const store = new MemoryStore();
    const pauses: number[] = [];
    const svc = new Recommendations(store, now, async (n) => void pauses.push(n));
    store.beforeWrite = () => store.put(togetherKey("a"), { counts: { b: 1 } });
    await assert.rejects(svc.applyOrder("ev-1", "order-1", ["a", "b"]), ConflictError);
    assert.equal(store.reads, maxAttempts);
    assert.deepEqual(pauses, [1, 2, 3, 4]);
  });

  it("passes a store failure on at once", async () => {
    const store = new MemoryStore();
    store.failWith = new Error("sidecar down");
    const svc = new Recommendations(store, now, noPause);
    await assert.rejects(svc.applyOrder("ev-1", "order-1", ["a", "b"]), /sidecar down/);
    assert.equal(store.reads, 1);
    await assert.rejects(svc.forProduct("a", 5), /sidecar down/);
  });

  it("refuses to count on a record it cannot read", async () => {
    const store = new MemoryStore();
    store.put(togetherKey("a"), { counts: { b: -1 } });
    const svc = new Recommendations(store, now, noPause);
    await assert.rejects(svc.applyOrder("ev-1", "order-1", ["a", "b"]), /bad count/);
    assert.equal(store.records.has(eventKey("ev-1")), false);
  });
});
