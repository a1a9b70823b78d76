// The TypeScript consumer held to the same event contract as the Go
// publisher and consumers (contracts/events/): every example the schema
// gives is read and applied; what the schema refuses, the consumer drops;
// and every field the consumer needs is one the schema requires, so a
// contract change that would break it fails here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { decode } from "../src/events.js";
import { checkOrderCompleted } from "../src/order.js";

const schemaURL = new URL("../../../../contracts/events/order.completed.schema.json", import.meta.url);
const schema = JSON.parse(readFileSync(schemaURL, "utf8")) as {
  required: string[];
  examples: Record<string, unknown>[];
  properties: { items: { items: { required: string[] } } };
};
const ajv = new Ajv2020({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv2020) => void)(ajv);
const valid = ajv.compile(schema);

const example = schema.examples[0]!;

describe("order.completed contract", () => {
  it("has examples the schema accepts", () => {
    assert.ok(schema.examples.length > 0);
    for (const ex of schema.examples) assert.ok(valid(ex), JSON.stringify(valid.errors));
  });

  it("reads every example, as data and as a JSON string", () => {
    for (const ex of schema.examples) {
      for (const data of [ex, JSON.stringify(ex)]) {
        const ev = decode(Buffer.from(JSON.stringify({ id: "e", data })));
        assert.deepEqual(ev.data, ex);
      }
    }
  });

  it("ignores fields the schema may add", () => {
    assert.deepEqual(checkOrderCompleted({ ...example, coupon: "x", items: [{ ...(example.items as object[])[0], colour: "red" }] }), []);
  });

  it("needs only fields the schema requires", () => {
    for (const f of ["order_id", "user_id", "status", "total_cents", "items"]) assert.ok(schema.required.includes(f), `${f} must stay required`);
    for (const f of ["product_id", "quantity"]) assert.ok(schema.properties.items.items.required.includes(f), `items[].${f} must stay required`);
  });

  // Each mutation breaks the schema; the consumer must refuse it too (it
  // would be poison to the Go consumers as well).
  const broken: [string, Record<string, unknown>][] = [
    ["no order_id", { ...example, order_id: undefined }],
    ["an upper-case order_id", { ...example, order_id: String(example.order_id).toUpperCase() }],
    ["status cancelled", { ...example, status: "cancelled" }],
    ["total_cents 0", { ...example, total_cents: 0 }],
    ["total_cents a string", { ...example, total_cents: "1770" }],
    ["items empty", { ...example, items: [] }],
    ["a line without quantity", { ...example, items: [{ product_id: "a" }] }],
    ["a product id with a space", { ...example, items: [{ product_id: "a b", quantity: 1 }] }],
    ["a product id of 65 characters", { ...example, items: [{ product_id: "x".repeat(65), quantity: 1 }] }],
    ["a fractional quantity", { ...example, items: [{ product_id: "a", quantity: 1.5 }] }],
  ];
  for (const [name, data] of broken) {
    it(`agrees with the schema on ${name}`, () => {
      const d = JSON.parse(JSON.stringify(data)) as unknown;
      assert.equal(valid(d), false, "the schema refuses it");
      assert.notDeepEqual(checkOrderCompleted(d), [], "the consumer refuses it");
    });
  }
});
