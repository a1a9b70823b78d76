// The service's settings, from the environment, with the Go services'
// names and rules: the API tokens are required unless the operator opts
// out with DAPRSHOP_INSECURE_NO_TOKENS=1 (internal/sidecar/tokens.go).
import { parseLevel, type Level } from "./log.js";

export interface Config {
  appHost: string;
  appPort: number;
  adminHost: string;
  adminPort: number | undefined;
  daprHost: string;
  daprHttpPort: string;
  daprApiToken: string;
  appApiToken: string;
  insecure: boolean;
  stateStore: string;
  logLevel: Level;
  shutdownDelayMs: number;
}

export type Getenv = (name: string) => string | undefined;

export function readConfig(getenv: Getenv): Config {
  const insecure = parseBool("DAPRSHOP_INSECURE_NO_TOKENS", getenv("DAPRSHOP_INSECURE_NO_TOKENS"));
  const cfg: Config = {
    appHost: getenv("APP_HOST") ?? "",
    appPort: parsePort("APP_PORT", getenv("APP_PORT") || "8086"),
    adminHost: getenv("ADMIN_HOST") || "127.0.0.1",
    adminPort: getenv("ADMIN_PORT") ? parsePort("ADMIN_PORT", getenv("ADMIN_PORT")!) : undefined,
    daprHost: getenv("DAPR_HOST") || "127.0.0.1",
    daprHttpPort: String(parsePort("DAPR_HTTP_PORT", getenv("DAPR_HTTP_PORT") || "3500")),
    daprApiToken: getenv("DAPR_API_TOKEN") ?? "",
    appApiToken: getenv("APP_API_TOKEN") ?? "",
    insecure,
    stateStore: getenv("STATE_STORE") || "recommendations-store",
    logLevel: parseLevel(getenv("LOG_LEVEL")),
    shutdownDelayMs: parseDuration("SHUTDOWN_DELAY", getenv("SHUTDOWN_DELAY") ?? ""),
  };
  const missing = ["DAPR_API_TOKEN", "APP_API_TOKEN"].filter((n) => !getenv(n));
  if (missing.length && !insecure) {
    throw new Error(
      `${missing.join(" and ")} not set, so anything on this machine could call the app or its sidecar: ` +
        "`make run` sets the tokens; for `dapr run -f dapr/dapr.yaml`, run `make infra` and source the file it names; " +
        "DAPRSHOP_INSECURE_NO_TOKENS=1 runs without them (never in production)",
    );
  }
  return cfg;
}

function parsePort(name: string, v: string): number {
  const n = /^[0-9]{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new Error(`${name}: want a port from 1 to 65535, got ${JSON.stringify(v)}`);
  return n;
}

// parseBool reads what Go's strconv.ParseBool reads.
function parseBool(name: string, v: string | undefined): boolean {
  if (v === undefined || v === "") return false;
  if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(v)) return false;
  throw new Error(`${name}: want 1 or 0 (true or false), got ${JSON.stringify(v)}`);
}

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

// parseDuration reads a Go duration of 0 or more made of ms, s, m and h
// parts (2s, 1m30s, 500ms); empty is 0.
export function parseDuration(name: string, v: string): number {
  if (v === "" || v === "0") return 0;
  const parts = [...v.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== v) {
    throw new Error(`${name}: want a Go duration of 0 or more such as 2s, got ${JSON.stringify(v)}`);
  }
  return parts.reduce((ms, p) => ms + Number(p[1]) * units[p[2]!]!, 0);
}
