// The app's HTTP surface. Every route but the probes answers only its own
// sidecar (the app API token); the event route answers Dapr in its terms
// (SUCCESS, RETRY, DROP, always with 200).
//
//	GET  /products/{id}/recommendations?limit=  bought together with {id}, most often first
//	POST /events/order-completed                subscription route for order.completed
//	GET  /healthz                               alive
//	GET  /readyz                                its sidecar reachable and guarded
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "./log.js";
import type { Metrics } from "./metrics.js";
import { handleOrderCompleted } from "./events.js";
import { problem, respond } from "./problem.js";
import type { Recommendations } from "./service.js";
import { SidecarError } from "./sidecar.js";
import { validProductId } from "./together.js";
import { parseTraceparent, withTrace } from "./trace.js";

export const defaultLimit = 5;
export const maxLimit = 20;

export interface Deps {
  logger: Logger;
  service: Recommendations;
  metrics: Metrics;
  appToken: string;
  ready: () => Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL, params: string[]) => Promise<void>;

interface Route {
  template: string;
  pattern: RegExp;
  methods: Record<string, Handler>;
  probe?: boolean;
}

export function newHandler(deps: Deps): (req: IncomingMessage, res: ServerResponse) => void {
  const routes: Route[] = [
    { template: "/healthz", pattern: /^\/healthz$/, probe: true, methods: { GET: async (_q, res) => respond(res, 200, { status: "ok" }) } },
    { template: "/readyz", pattern: /^\/readyz$/, probe: true, methods: { GET: (q, res, u) => readyz(deps, q, res, u) } },
    { template: "/products/{id}/recommendations", pattern: /^\/products\/([^/]+)\/recommendations$/, methods: { GET: (q, res, u, p) => recommendations(deps, res, u, p) } },
    { template: "/events/order-completed", pattern: /^\/events\/order-completed$/, methods: { POST: (q, res) => handleOrderCompleted(deps, q, res) } },
  ];
  return (req, res) => {
    const ctx = parseTraceparent(header(req, "traceparent"), header(req, "tracestate"));
    withTrace(ctx, () => {
      const started = process.hrtime.bigint();
      const url = new URL(req.url ?? "/", "http://app");
      const method = req.method ?? "GET";
      const route = routes.find((r) => r.pattern.test(url.pathname));
      res.on("finish", () => {
        if (route?.probe) return;
        const template = route && route.methods[method] ? route.template : "unmatched";
        deps.metrics.requests.inc({ code: String(res.statusCode), method, route: template });
        deps.metrics.duration.observe({ method, route: template }, Number(process.hrtime.bigint() - started) / 1e9);
      });
      serve(deps, routes, route, method, req, res, url).catch((err: unknown) => {
        deps.logger.error("request failed", { status: 500, method, path: url.pathname, error: err });
        if (!res.headersSent) problem(res, 500, url.pathname);
        else res.destroy();
      });
    });
  };
}

async function serve(deps: Deps, routes: Route[], route: Route | undefined, method: string, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  if (!route) return problem(res, 404, url.pathname, "no such route");
  const handle = route.methods[method];
  if (!handle) {
    res.setHeader("Allow", Object.keys(route.methods).join(", "));
    return problem(res, 405, url.pathname, `${method} is not allowed here`);
  }
  if (!route.probe && !tokenMatches(deps.appToken, header(req, "dapr-api-token"))) {
    return problem(res, 401, url.pathname, "this route accepts calls from the app's Dapr sidecar only");
  }
  const params = (route.pattern.exec(url.pathname) ?? []).slice(1).map(decodeURIComponent);
  await handle(req, res, url, params);
}

// tokenMatches compares in constant time; an empty expected token (the
// operator's explicit opt-out, see config.ts) lets every call through.
export function tokenMatches(want: string, got: string | undefined): boolean {
  if (want === "") return true;
  const a = Buffer.from(want);
  const b = Buffer.from(got ?? "");
  return a.length === b.length && timingSafeEqual(a, b);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readyz(deps: Deps, _req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  try {
    await deps.ready();
    respond(res, 200, { status: "ready" });
  } catch (err) {
    deps.logger.warn("not ready", { error: err });
    problem(res, 503, url.pathname, `not ready: ${err instanceof SidecarError ? err.message : "the sidecar is not reachable"}`);
  }
}

async function recommendations(deps: Deps, res: ServerResponse, url: URL, [id = ""]: string[]): Promise<void> {
  const errors = [];
  if (!validProductId(id)) errors.push({ field: "id", detail: "must be a product id: lower-case letters and digits in dash-separated words, at most 64 characters" });
  let limit = defaultLimit;
  const limits = url.searchParams.getAll("limit");
  if (limits.length > 1) errors.push({ field: "limit", detail: "must be given once" });
  else if (limits.length === 1) {
    limit = /^[0-9]{1,3}$/.test(limits[0]!) ? Number(limits[0]) : NaN;
    if (!(limit >= 1 && limit <= maxLimit)) errors.push({ field: "limit", detail: `must be an integer from 1 to ${maxLimit}` });
  }
  if (errors.length) return problem(res, 400, url.pathname, "the request has invalid fields", errors);
  try {
    const items = await deps.service.forProduct(id, limit);
    respond(res, 200, { product_id: id, items });
  } catch (err) {
    if (!(err instanceof SidecarError)) throw err;
    deps.logger.warn("request failed", { status: 503, method: "GET", path: url.pathname, error: err });
    problem(res, 503, url.pathname, "the recommendations store is unavailable; try again shortly");
  }
}
