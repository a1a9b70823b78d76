import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { addOrder, distinctProducts, maxPartners, readTogether, top, validProductId, type Together } from "../src/together.js";

describe("together", () => {
  it("counts every other product of an order once, for each product", () => {
    const next = addOrder(new Map(), ["a", "b", "c"]);
    assert.deepEqual(Object.fromEntries(next), {
      a: { counts: { b: 1, c: 1 } },
      b: { counts: { a: 1, c: 1 } },
      c: { counts: { a: 1, b: 1 } },
    });
  });

  it("adds to what is there and leaves the input unchanged", () => {
    const current = new Map<string, Together>([["a", { counts: { b: 2, z: 7 } }]]);
    const next = addOrder(current, ["a", "b"]);
    assert.deepEqual(next.get("a"), { counts: { b: 3, z: 7 } });
    assert.deepEqual(next.get("b"), { counts: { a: 1 } });
    assert.deepEqual(current.get("a"), { counts: { b: 2, z: 7 } });
  });

  it("gives a lone product no partner", () => {
    assert.deepEqual(Object.fromEntries(addOrder(new Map(), ["a"])), { a: { counts: {} } });
  });

  it("lists an order's products once each, sorted", () => {
    assert.deepEqual(distinctProducts([{ product_id: "b" }, { product_id: "a" }, { product_id: "b" }]), ["a", "b"]);
  });

  it("ranks by orders, then by id, and cuts at the limit", () => {
    const t = { counts: { c: 2, a: 2, b: 5, d: 1 } };
    assert.deepEqual(top(t, 3), [
      { product_id: "b", orders: 5 },
      { product_id: "a", orders: 2 },
      { product_id: "c", orders: 2 },
    ]);
    assert.deepEqual(top(undefined, 3), []);
  });

  it("forgets the partners bought together least often past the bound", () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < maxPartners; i++) counts[`p-${String(i).padStart(3, "0")}`] = 2;
    const next = addOrder(new Map([["a", { counts }]]), ["a", "new-one"]);
    const kept = next.get("a")!.counts;
    assert.equal(Object.keys(kept).length, maxPartners);
    assert.equal(kept["new-one"], undefined, "a partner seen once gives way to those seen twice");
    assert.equal(kept[`p-${String(maxPartners - 1).padStart(3, "0")}`], 2);
  });

  const bad: [string, unknown][] = [
    ["null", null],
    ["no counts", {}],
    ["counts null", { counts: null }],
    ["a zero count", { counts: { a: 0 } }],
    ["a fraction", { counts: { a: 1.5 } }],
    ["a string count", { counts: { a: "1" } }],
    ["a bad id", { counts: { "A B": 1 } }],
  ];
  for (const [name, v] of bad) {
    it(`refuses a stored record with ${name}`, () => assert.throws(() => readTogether(v)));
  }

  const ids: [string, boolean][] = [
    ["paper-filters-100", true],
    ["a", true],
    ["", false],
    ["-a", false],
    ["a--b", false],
    ["A", false],
    ["a/b", false],
    ["x".repeat(64), true],
    ["x".repeat(65), false],
  ];
  for (const [id, ok] of ids) {
    it(`judges product id ${JSON.stringify(id.length > 20 ? `${id.length} chars` : id)} ${ok ? "valid" : "invalid"}`, () => assert.equal(validProductId(id), ok));
  }
});
