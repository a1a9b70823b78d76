// The Dapr sidecar through the official SDK (@dapr/dapr, HTTP protocol):
// the state store this service declares in service.ts, and the sidecar's
// readiness. Every call carries the API token and the current trace
// context (trace.ts).
import { CommunicationProtocolEnum, DaprClient, LogLevel, StateConcurrencyEnum, StateConsistencyEnum } from "@dapr/dapr";
import type { Logger } from "./log.js";
import type { OperationType } from "@dapr/dapr/types/Operation.type.js";
import { ConflictError, type Store, type Stored, type Write } from "./service.js";
import { traceHeaders } from "./trace.js";

export interface SidecarConfig {
  host: string;
  httpPort: string;
  apiToken: string;
}

type Execute = (url: string, params?: { method?: string; headers?: Record<string, string>; body?: unknown }, init?: boolean) => Promise<unknown>;

// newDaprClient makes the SDK's client, its HTTP calls carrying the
// current traceparent: the SDK (3.18) sets no header of the caller's on a
// state call, so its one request function is wrapped to add them.
// The SDK's own log lines go through logger, as JSON with the trace ids,
// at warn and above (its info lines say "Sidecar Started" and the like).
export function newDaprClient(cfg: SidecarConfig, logger?: Logger): DaprClient {
  const text = (m: unknown, rest: unknown[]) => [m, ...rest].map(String).join(" ");
  const client = new DaprClient({
    daprHost: cfg.host,
    daprPort: cfg.httpPort,
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    daprApiToken: cfg.apiToken || undefined,
    logger: {
      level: LogLevel.Warn,
      ...(logger && {
        service: {
          error: (m: unknown, ...r: unknown[]) => logger.error(text(m, r), { source: "dapr-sdk" }),
          warn: (m: unknown, ...r: unknown[]) => logger.warn(text(m, r), { source: "dapr-sdk" }),
          info: (m: unknown, ...r: unknown[]) => logger.info(text(m, r), { source: "dapr-sdk" }),
          verbose: (m: unknown, ...r: unknown[]) => logger.debug(text(m, r), { source: "dapr-sdk" }),
          debug: (m: unknown, ...r: unknown[]) => logger.debug(text(m, r), { source: "dapr-sdk" }),
        },
      }),
    },
  });
  const http = client.daprClient as unknown as { execute: Execute };
  const execute = http.execute.bind(http);
  http.execute = (url, params, init) =>
    execute(url, { ...params, method: params?.method ?? (params?.body === undefined ? "GET" : "POST"), headers: { ...params?.headers, ...traceHeaders() } }, init);
  return client;
}

// SidecarError is a failed call to the sidecar or the store behind it,
// with daprd's HTTP status (0 when none came).
export class SidecarError extends Error {
  override name = "SidecarError";
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

// The messages by which state stores report a lost race inside daprd's
// generic transaction error: the same list as the Go services'
// (internal/sidecar/errors.go, which says which store says what).
const lostRaceSigns = [
  "etag mismatch",
  "failed to set key ",
  "failed to delete ",
  "no item was updated",
  "error 1062 (23000): duplicate entry",
  "error 1213 (40001)",
  "error 1205 (hy000)",
  "error 1467 (hy000): failed to read auto-increment value",
  "sqlstate 40001",
  "sqlstate 40p01",
];

// classify turns the SDK's error (an Error whose message is JSON holding
// daprd's status and answer) into ConflictError for a lost race (409, or
// a sign above) and SidecarError for anything else.
export function classify(err: unknown, what: string): Error {
  const msg = err instanceof Error ? err.message : String(err);
  let status = 0;
  try {
    const parsed = JSON.parse(msg) as { status?: unknown };
    if (typeof parsed.status === "number") status = parsed.status;
  } catch {
    // not daprd's answer: no connection, a timeout
  }
  const lower = msg.toLowerCase();
  if (status === 409 || lostRaceSigns.some((s) => lower.includes(s))) return new ConflictError(`${what}: ${msg}`);
  return new SidecarError(`${what}: ${msg}`, status);
}

// DaprStore is Store on a Dapr state store.
export class DaprStore implements Store {
  constructor(
    private readonly client: DaprClient,
    private readonly storeName: string,
  ) {}

  async read(keys: string[]): Promise<Map<string, Stored>> {
    let items: { key?: string; data?: unknown; etag?: string }[];
    try {
      items = (await this.client.state.getBulk(this.storeName, keys)) as typeof items;
    } catch (err) {
      throw classify(err, "read state");
    }
    const found = new Map<string, Stored>();
    for (const it of items) {
      // daprd lists a missing key with no data and no ETag.
      if (it.key && it.etag && it.data !== undefined && it.data !== "") found.set(it.key, { value: it.data, etag: it.etag });
    }
    return found;
  }

  async write(writes: Write[]): Promise<void> {
    const ops: OperationType[] = writes.map((w) => {
      const guarded = w.insertOnly || w.etag !== undefined;
      return {
        operation: "upsert",
        request: {
          key: w.key,
          value: w.value,
          // daprd's HTTP API takes the ETag as a string; the SDK's type
          // says {value}, which daprd would refuse.
          ...(w.etag !== undefined ? { etag: w.etag as unknown as { value: string } } : {}),
          ...(guarded ? { options: { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE, consistency: StateConsistencyEnum.CONSISTENCY_UNSPECIFIED } } : {}),
          ...(w.ttlSeconds ? { metadata: { ttlInSeconds: String(w.ttlSeconds) } } : {}),
        },
      };
    });
    try {
      await this.client.state.transaction(this.storeName, ops);
    } catch (err) {
      throw classify(err, "write state");
    }
  }
}
