// What the SDK-based store sends the sidecar, seen by an HTTP server
// standing in for daprd's state API (tests/recommendations_test.go runs the
// same store against a real daprd).
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { ConflictError } from "../src/service.js";
import { DaprStore, SidecarError, classify, newDaprClient } from "../src/sidecar.js";
import { withTrace, parseTraceparent } from "../src/trace.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}

let seen: Seen[] = [];
let answer: { status: number; body: string } = { status: 204, body: "" };
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const text = Buffer.concat(chunks).toString();
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: text ? JSON.parse(text) : undefined });
    // The SDK reads the sidecar's metadata before its first call.
    if (req.url === "/v1.0/metadata") return void res.writeHead(200, { "content-type": "application/json" }).end('{"id":"recommendations"}');
    res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
  });
});
let store: DaprStore;
before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = String((server.address() as AddressInfo).port);
  store = new DaprStore(newDaprClient({ host: "127.0.0.1", httpPort: port, apiToken: "dapr-token" }), "recommendations-store");
});
after(() => server.close());

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const calls = () => seen.filter((s) => s.url.startsWith("/v1.0/state"));

describe("DaprStore", () => {
  it("writes one transaction with the token, the trace, ETags as strings and first-write", async () => {
    seen = [];
    answer = { status: 204, body: "" };
    await withTrace(parseTraceparent(traceparent), () =>
      store.write([
        { key: "event-1", value: { order_id: "o" }, insertOnly: true, ttlSeconds: 60 },
        { key: "together-a", value: { counts: { b: 1 } }, etag: "7" },
      ]),
    );
    const [call] = calls();
    assert.equal(call?.method, "POST");
    assert.equal(call?.url, "/v1.0/state/recommendations-store/transaction");
    assert.equal(call?.headers["dapr-api-token"], "dapr-token");
    assert.equal(call?.headers.traceparent, traceparent);
    assert.deepEqual((call?.body as { operations: unknown[] }).operations, [
      { operation: "upsert", request: { key: "event-1", value: { order_id: "o" }, options: { concurrency: "first-write" }, metadata: { ttlInSeconds: "60" } } },
      { operation: "upsert", request: { key: "together-a", value: { counts: { b: 1 } }, etag: "7", options: { concurrency: "first-write" } } },
    ]);
  });

  it("reads in bulk and keeps only the keys that exist", async () => {
    seen = [];
    answer = { status: 200, body: JSON.stringify([{ key: "together-a", data: { counts: {} }, etag: "3" }, { key: "event-1" }]) };
    const found = await store.read(["together-a", "event-1"]);
    assert.deepEqual([...found], [["together-a", { value: { counts: {} }, etag: "3" }]]);
    assert.equal(calls()[0]?.url.split("?")[0], "/v1.0/state/recommendations-store/bulk");
    assert.equal(calls()[0]?.headers.traceparent, undefined, "no trace outside a request");
  });

  it("reports a lost race as ConflictError, anything else as SidecarError", async () => {
    answer = { status: 500, body: JSON.stringify({ errorCode: "ERR_STATE_TRANSACTION", message: "error while executing state transaction: possible etag mismatch. error from state store: ERROR: no item was updated" }) };
    await assert.rejects(store.write([{ key: "k", value: 1, etag: "1" }]), ConflictError);
    answer = { status: 500, body: JSON.stringify({ errorCode: "ERR_STATE_TRANSACTION", message: "connection refused" }) };
    await assert.rejects(store.write([{ key: "k", value: 1 }]), (e: unknown) => e instanceof SidecarError && e.status === 500);
  });

  const cases: [string, unknown, string][] = [
    ["409", new Error(JSON.stringify({ status: 409, error_msg: "" })), "ConflictError"],
    ["a rolled-back transaction", new Error(JSON.stringify({ status: 500, error_msg: "Error 1213 (40001): Deadlock found" })), "ConflictError"],
    ["a 404", new Error(JSON.stringify({ status: 404, error_msg: "" })), "SidecarError"],
    ["no answer", new Error("fetch failed"), "SidecarError"],
  ];
  for (const [name, err, want] of cases) {
    it(`classifies ${name} as ${want}`, () => assert.equal(classify(err, "x").name, want));
  }
});
