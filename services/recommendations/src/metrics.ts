// Prometheus metrics under the Go services' names, so that the same
// dashboards and alerts read this app: requests by route, method and code,
// their durations, events by topic and outcome; plus Node.js's own.
import { Counter, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "daprshop_http_requests_total",
    help: "HTTP requests the app answered, by route template, method and status code. Health probes are not counted.",
    labelNames: ["route", "method", "code"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "daprshop_http_request_duration_seconds",
    help: "Time from a request's arrival to its handler's return, by route template and method. Health probes are not counted.",
    labelNames: ["route", "method"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: "daprshop_events_handled_total",
    help: "Events delivered to a subscription route, by topic and outcome: success (applied), duplicate (applied before), retry (Dapr redelivers) or drop (poison: dead-lettered).",
    labelNames: ["outcome", "topic"] as const,
    registers: [this.registry],
  });

  constructor(opts: { defaults?: boolean } = {}) {
    if (opts.defaults ?? true) collectDefaultMetrics({ register: this.registry });
    for (const outcome of ["success", "duplicate", "retry", "drop"]) {
      this.events.inc({ outcome, topic: "order.completed" }, 0); // every series exists from the start
    }
  }
}
