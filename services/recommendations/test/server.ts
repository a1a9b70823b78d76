// Serves the app's handler on a free loopback port for a test.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { newLogger } from "../src/log.js";
import { Metrics } from "../src/metrics.js";
import { newHandler } from "../src/routes.js";
import { Recommendations } from "../src/service.js";
import { MemoryStore } from "./memstore.js";

export const token = "app-token-for-tests";

export interface TestApp {
  url: string;
  store: MemoryStore;
  metrics: Metrics;
  logs: Record<string, unknown>[];
  ready: { error?: Error };
  close(): Promise<void>;
}

export async function startApp(): Promise<TestApp> {
  const store = new MemoryStore();
  const metrics = new Metrics({ defaults: false });
  const logs: Record<string, unknown>[] = [];
  const logger = newLogger("recommendations", "DEBUG", (l) => logs.push(JSON.parse(l) as Record<string, unknown>));
  const ready: { error?: Error } = {};
  const service = new Recommendations(store, () => new Date(), async () => {});
  const server: Server = createServer(
    newHandler({
      logger,
      service,
      metrics,
      appToken: token,
      ready: async () => {
        if (ready.error) throw ready.error;
      },
    }),
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    metrics,
    logs,
    ready,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export function event(id: string, data: unknown): string {
  return JSON.stringify({ specversion: "1.0", id, source: "orders", type: "com.dapr.event.sent", topic: "order.completed", datacontenttype: "application/json", data });
}

export const order = {
  order_id: "6f1de5a4-1c0b-4d7e-8b0a-3c2f9e8d7a61",
  user_id: "0b6c8f0e-5c1d-4f3a-9a57-2d1e6b7c8a90",
  status: "completed",
  total_cents: 1770,
  items: [
    { product_id: "paper-filters-100", quantity: 2 },
    { product_id: "pour-over-kettle", quantity: 1 },
  ],
};
