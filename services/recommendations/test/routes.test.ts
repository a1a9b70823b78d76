import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { maxEventBytes } from "../src/events.js";
import { eventKey, togetherKey } from "../src/service.js";
import { SidecarError } from "../src/sidecar.js";
import { event, order, startApp, token, type TestApp } from "./server.js";

let app: TestApp;
before(async () => {
  app = await startApp();
});
after(() => app.close());
beforeEach(() => {
  app.store.records.clear();
  app.store.failWith = undefined;
  app.logs.length = 0;
});

const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/events/order-completed`, { method: "POST", body, headers: { "dapr-api-token": token, "content-type": "application/cloudevents+json", ...headers } });
const get = (path: string, headers: Record<string, string> = { "dapr-api-token": token }) => fetch(app.url + path, { headers });

async function counted(outcome: string): Promise<number> {
  const m = await app.metrics.events.get();
  return m.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}

describe("POST /events/order-completed", () => {
  it("applies an order once and answers SUCCESS each time", async () => {
    const before = { success: await counted("success"), duplicate: await counted("duplicate") };
    for (let i = 0; i < 2; i++) {
      const res = await post(event("order.completed-1", order));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: "SUCCESS" });
    }
    assert.equal((await counted("success")) - before.success, 1);
    assert.equal((await counted("duplicate")) - before.duplicate, 1);
    assert.deepEqual(app.store.records.get(togetherKey("pour-over-kettle"))?.value, { counts: { "paper-filters-100": 1 } });
  });

  it("reads data sent as a JSON string holding JSON", async () => {
    const res = await post(event("ev-string", JSON.stringify(order)));
    assert.deepEqual(await res.json(), { status: "SUCCESS" });
    assert.ok(app.store.records.has(eventKey("ev-string")));
  });

  const poison: [string, string][] = [
    ["a body that is not JSON", "{not json"],
    ["an envelope without an id", JSON.stringify({ data: order })],
    ["an empty id", event("", order)],
    ["no data", JSON.stringify({ id: "x" })],
    ["data that is a string but not JSON", event("x", "not json")],
    ["another topic's status", event("x", { ...order, status: "cancelled" })],
    ["no items", event("x", { ...order, items: [] })],
    ["a bad product id", event("x", { ...order, items: [{ product_id: "Bad Id", quantity: 1 }] })],
    ["a zero quantity", event("x", { ...order, items: [{ product_id: "a", quantity: 0 }] })],
    ["an order id that is not a UUID", event("x", { ...order, order_id: "42" })],
    ["a body over 1 MiB", event("x", { ...order, pad: "x".repeat(maxEventBytes) })],
  ];
  for (const [name, body] of poison) {
    it(`drops ${name} to the dead letters, writing nothing`, async () => {
      const res = await post(body);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: "DROP" });
      assert.equal(app.store.records.size, 0);
      const dropped = app.logs.find((l) => l.msg === "event dropped");
      assert.equal(dropped?.level, "WARN");
      if (body.startsWith('{"specversion"') && !body.includes('"id":""') && body.length <= maxEventBytes) assert.equal(dropped?.event_id, "x", "the dropped event is named");
    });
  }

  it("asks for redelivery when the store fails", async () => {
    app.store.failWith = new SidecarError("write state: connection refused", 0);
    const res = await post(event("ev-retry", order));
    assert.deepEqual(await res.json(), { status: "RETRY" });
    app.store.failWith = undefined;
    const again = await post(event("ev-retry", order));
    assert.deepEqual(await again.json(), { status: "SUCCESS" });
    assert.ok(app.store.records.has(eventKey("ev-retry")));
  });

  it("refuses a caller without the app token", async () => {
    for (const headers of [{ "dapr-api-token": "" }, { "dapr-api-token": "wrong" }, { "dapr-api-token": token + "x" }]) {
      const res = await post(event("ev-x", order), headers);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
    }
    assert.equal(app.store.records.size, 0);
  });

  it("stamps its log lines with the trace of the delivery", async () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await post(event("ev-traced", order), { traceparent });
    const line = app.logs.find((l) => l.msg === "event applied");
    assert.equal(line?.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert.equal(line?.span_id, "00f067aa0ba902b7");
    assert.equal(line?.event_id, "ev-traced");
  });
});

describe("GET /products/{id}/recommendations", () => {
  it("lists the products bought with it, most often first", async () => {
    await post(event("ev-1", order));
    await post(event("ev-2", { ...order, items: [...order.items, { product_id: "grinder", quantity: 1 }] }));
    const res = await get("/products/pour-over-kettle/recommendations");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), {
      product_id: "pour-over-kettle",
      items: [
        { product_id: "paper-filters-100", orders: 2 },
        { product_id: "grinder", orders: 1 },
      ],
    });
    const one = await get("/products/pour-over-kettle/recommendations?limit=1");
    assert.equal(((await one.json()) as { items: unknown[] }).items.length, 1);
  });

  it("answers an empty list for a product never bought with another", async () => {
    const res = await get("/products/lonely/recommendations");
    assert.deepEqual(await res.json(), { product_id: "lonely", items: [] });
  });

  const bad: [string, string, string][] = [
    ["/products/Not%20An%20Id/recommendations", "id", "must be a product id"],
    ["/products/a/recommendations?limit=0", "limit", "from 1 to 20"],
    ["/products/a/recommendations?limit=21", "limit", "from 1 to 20"],
    ["/products/a/recommendations?limit=two", "limit", "from 1 to 20"],
    ["/products/a/recommendations?limit=1&limit=2", "limit", "once"],
  ];
  for (const [path, field, detail] of bad) {
    it(`answers 400 naming ${field} for ${path}`, async () => {
      const res = await get(path);
      assert.equal(res.status, 400);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      const p = (await res.json()) as { status: number; errors: { field: string; detail: string }[] };
      assert.equal(p.status, 400);
      assert.equal(p.errors[0]?.field, field);
      assert.match(p.errors[0]?.detail ?? "", new RegExp(detail));
    });
  }

  it("answers 503 when the store is down", async () => {
    app.store.failWith = new SidecarError("read state: connection refused", 0);
    const res = await get("/products/a/recommendations");
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { detail: string }).detail, /unavailable/);
  });

  it("answers 500 without detail on a bug, and logs it", async () => {
    app.store.put(togetherKey("a"), { counts: "garbage" });
    const res = await get("/products/a/recommendations");
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as { detail?: string }).detail, undefined);
    assert.ok(app.logs.some((l) => l.msg === "request failed" && l.level === "ERROR"));
  });

  it("refuses a caller without the app token", async () => {
    const res = await get("/products/a/recommendations", {});
    assert.equal(res.status, 401);
  });
});

describe("the rest of the surface", () => {
  it("answers probes without a token", async () => {
    assert.equal((await get("/healthz", {})).status, 200);
    assert.deepEqual(await (await get("/readyz", {})).json(), { status: "ready" });
  });

  it("is not ready while its sidecar is not", async () => {
    app.ready.error = new SidecarError("the sidecar is not reachable: ECONNREFUSED", 0);
    const res = await get("/readyz", {});
    app.ready.error = undefined;
    assert.equal(res.status, 503);
    assert.match(((await res.json()) as { detail: string }).detail, /not reachable/);
  });

  it("answers 404 and 405 as problems", async () => {
    const nf = await get("/nope");
    assert.equal(nf.status, 404);
    assert.equal(nf.headers.get("content-type"), "application/problem+json");
    const na = await fetch(`${app.url}/products/a/recommendations`, { method: "DELETE", headers: { "dapr-api-token": token } });
    assert.equal(na.status, 405);
    assert.equal(na.headers.get("allow"), "GET");
  });

  it("counts requests by route template, never by product", async () => {
    await get("/products/some-product/recommendations");
    const m = await app.metrics.requests.get();
    assert.ok(m.values.some((v) => v.labels.route === "/products/{id}/recommendations" && v.labels.code === "200"));
    assert.ok(!m.values.some((v) => String(v.labels.route).includes("some-product")));
  });
});
