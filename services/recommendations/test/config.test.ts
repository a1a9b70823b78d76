import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseDuration, readConfig } from "../src/config.js";
import { newReadiness } from "../src/ready.js";

const env = (vars: Record<string, string>) => (n: string) => vars[n];
const tokens = { DAPR_API_TOKEN: "d", APP_API_TOKEN: "a" };

describe("config", () => {
  it("has the Go services' defaults", () => {
    const c = readConfig(env(tokens));
    assert.equal(c.appPort, 8086);
    assert.equal(c.daprHttpPort, "3500");
    assert.equal(c.stateStore, "recommendations-store");
    assert.equal(c.adminPort, undefined);
    assert.equal(c.shutdownDelayMs, 0);
  });

  it("fails closed without its tokens, naming them", () => {
    assert.throws(() => readConfig(env({})), /DAPR_API_TOKEN and APP_API_TOKEN not set/);
    assert.throws(() => readConfig(env({ DAPR_API_TOKEN: "d" })), /^Error: APP_API_TOKEN not set/);
  });

  it("runs without tokens only when told to", () => {
    assert.equal(readConfig(env({ DAPRSHOP_INSECURE_NO_TOKENS: "1" })).insecure, true);
    assert.throws(() => readConfig(env({ DAPRSHOP_INSECURE_NO_TOKENS: "yes" })), /want 1 or 0/);
    assert.throws(() => readConfig(env({ DAPRSHOP_INSECURE_NO_TOKENS: "0" })), /not set/);
  });

  const bad: [string, string, RegExp][] = [
    ["APP_PORT", "0", /APP_PORT/],
    ["APP_PORT", "http", /APP_PORT/],
    ["ADMIN_PORT", "70000", /ADMIN_PORT/],
    ["LOG_LEVEL", "loud", /LOG_LEVEL/],
    ["SHUTDOWN_DELAY", "2", /SHUTDOWN_DELAY/],
    ["SHUTDOWN_DELAY", "-1s", /SHUTDOWN_DELAY/],
  ];
  for (const [name, value, want] of bad) {
    it(`refuses ${name}=${value}`, () => assert.throws(() => readConfig(env({ ...tokens, [name]: value })), want));
  }

  it("reads Go durations", () => {
    assert.equal(parseDuration("X", "2s"), 2000);
    assert.equal(parseDuration("X", "1m30s"), 90_000);
    assert.equal(parseDuration("X", "250ms"), 250);
    assert.equal(parseDuration("X", ""), 0);
  });
});

describe("readiness", () => {
  const fake = (answers: Record<string, number>) => (async (url: string | URL | Request) => new Response(null, { status: answers[new URL(String(url)).pathname] ?? 599 })) as typeof fetch;
  const cfg = { host: "127.0.0.1", httpPort: "3500", apiToken: "t" };

  it("is ready once the sidecar is healthy and refuses calls without the token", async () => {
    await newReadiness(cfg, fake({ "/v1.0/healthz/outbound": 204, "/v1.0/metadata": 401 }))();
  });

  it("is not ready while the sidecar is not", async () => {
    await assert.rejects(newReadiness(cfg, fake({ "/v1.0/healthz/outbound": 500 }))(), /outbound health is 500/);
  });

  it("is not ready beside a sidecar that serves anyone", async () => {
    await assert.rejects(newReadiness(cfg, fake({ "/v1.0/healthz/outbound": 204, "/v1.0/metadata": 200 }))(), /answers without DAPR_API_TOKEN/);
  });
});
