// Command recommendations keeps "bought together" counts, fed by the
// order.completed events Dapr delivers through a declarative subscription,
// and serves them by product. It talks to nothing but its sidecar, on the
// official Dapr SDK for JavaScript; which store and which broker stand
// behind it is the sidecar's configuration (components/<profile>/).
//
// Routes: src/routes.ts. Environment: src/config.ts (the Go services'
// variables: APP_HOST, APP_PORT (8086), DAPR_HOST, DAPR_HTTP_PORT,
// DAPR_API_TOKEN, APP_API_TOKEN, STATE_STORE (recommendations-store),
// LOG_LEVEL, ADMIN_HOST, ADMIN_PORT for /metrics, SHUTDOWN_DELAY).
import { createServer, type Server } from "node:http";
import { readConfig } from "./config.js";
import { newLogger, type Logger } from "./log.js";
import { Metrics } from "./metrics.js";
import { newHandler } from "./routes.js";
import { Recommendations } from "./service.js";
import { DaprStore, newDaprClient } from "./sidecar.js";
import { newReadiness } from "./ready.js";

async function main(): Promise<void> {
  let cfg;
  try {
    cfg = readConfig((n) => process.env[n]);
  } catch (err) {
    process.stderr.write(`recommendations: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const logger = newLogger("recommendations", cfg.logLevel);
  if (cfg.insecure) {
    logger.warn("DAPRSHOP_INSECURE_NO_TOKENS is set: running without API tokens, so any local process may call this app or its sidecar; never do this outside a throwaway machine");
  }
  const sidecar = { host: cfg.daprHost, httpPort: cfg.daprHttpPort, apiToken: cfg.daprApiToken };
  const service = new Recommendations(new DaprStore(newDaprClient(sidecar, logger), cfg.stateStore));
  const metrics = new Metrics();
  const app = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, newHandler({ logger, service, metrics, appToken: cfg.appApiToken, ready: newReadiness(sidecar) }));
  await listen(app, cfg.appHost, cfg.appPort, logger);
  let admin: Server | undefined;
  if (cfg.adminPort !== undefined) {
    admin = createServer((req, res) => {
      if (req.method === "GET" && req.url === "/metrics") {
        metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { "Content-Type": metrics.registry.contentType });
            res.end(text);
          },
          () => {
            res.writeHead(500).end();
          },
        );
        return;
      }
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found\n");
    });
    await listen(admin, cfg.adminHost, cfg.adminPort, logger);
  }
  const stop = once(async (signal: string) => {
    if (cfg.shutdownDelayMs > 0) {
      logger.info("stop signal: serving on while the sidecar stops its subscriptions", { signal, for: `${cfg.shutdownDelayMs}ms` });
      await new Promise((r) => setTimeout(r, cfg.shutdownDelayMs));
    }
    logger.info("shutting down");
    const force = setTimeout(() => {
      logger.warn("requests still running after 10s: closing their connections");
      app.closeAllConnections();
    }, 10_000);
    force.unref();
    admin?.close();
    app.closeIdleConnections();
    await new Promise<void>((r) => app.close(() => r()));
    clearTimeout(force);
    process.exit(0);
  });
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

function listen(server: Server, host: string, port: number, logger: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host || undefined, () => {
      server.off("error", reject);
      logger.info("listening", { addr: `${host}:${port}` });
      resolve();
    });
  });
}

function once<A extends unknown[]>(fn: (...a: A) => Promise<void>): (...a: A) => Promise<void> {
  let started = false;
  return async (...a) => {
    if (started) return;
    started = true;
    await fn(...a);
  };
}

main().catch((err: unknown) => {
  process.stderr.write(`recommendations: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
