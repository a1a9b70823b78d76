// W3C trace context, carried through the app: the traceparent its sidecar
// sent with a request is kept for the request's whole async flow, stamped
// on every log line and sent on every call the app makes to its sidecar,
// so the sidecar's spans for those calls join the caller's trace (one
// checkout is one trace, recommendations' state calls included). The app
// makes no spans of its own: its sidecar records the delivery and each
// call, which is what a trace of this service needs to show.
import { AsyncLocalStorage } from "node:async_hooks";

export interface TraceContext {
  traceparent: string;
  tracestate?: string;
  traceId: string;
  spanId: string;
}

const current = new AsyncLocalStorage<TraceContext>();

// version-traceid-parentid-flags, lower-case hex, neither id all zeros
// (https://www.w3.org/TR/trace-context/#traceparent-header).
const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

// parseTraceparent reads a traceparent header; anything malformed, or of
// the reserved version ff, or with an all-zero id, is no context at all.
export function parseTraceparent(header: string | undefined, tracestate?: string): TraceContext | undefined {
  const m = traceparentPattern.exec((header ?? "").trim());
  if (!m) return undefined;
  const [, version, traceId, spanId] = m as unknown as [string, string, string, string];
  if (version === "ff" || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  const ctx: TraceContext = { traceparent: m[0], traceId, spanId };
  if (tracestate) ctx.tracestate = tracestate;
  return ctx;
}

// withTrace runs fn with ctx as the current trace context.
export function withTrace<T>(ctx: TraceContext | undefined, fn: () => T): T {
  return ctx ? current.run(ctx, fn) : fn();
}

// currentTrace is the trace context of the request being served, if any.
export function currentTrace(): TraceContext | undefined {
  return current.getStore();
}

// traceHeaders are the headers that carry the current context onward.
export function traceHeaders(): Record<string, string> {
  const ctx = current.getStore();
  if (!ctx) return {};
  const h: Record<string, string> = { traceparent: ctx.traceparent };
  if (ctx.tracestate) h.tracestate = ctx.tracestate;
  return h;
}
