// JSON logs in the shape of the Go services' log/slog records (time,
// level, msg, service, then attributes), one object per line on stdout,
// with the trace_id and span_id of the request being served.
import { currentTrace } from "./trace.js";

export type Level = "DEBUG" | "INFO" | "WARN" | "ERROR";
const rank: Record<Level, number> = { DEBUG: -4, INFO: 0, WARN: 4, ERROR: 8 };

export interface Logger {
  debug(msg: string, attrs?: Record<string, unknown>): void;
  info(msg: string, attrs?: Record<string, unknown>): void;
  warn(msg: string, attrs?: Record<string, unknown>): void;
  error(msg: string, attrs?: Record<string, unknown>): void;
}

// parseLevel reads LOG_LEVEL as slog does (debug, info, warn, error; any
// case); empty is info, anything else an error.
export function parseLevel(s: string | undefined): Level {
  const v = (s ?? "").trim().toUpperCase();
  if (v === "") return "INFO";
  if (v === "WARNING") return "WARN";
  if (v in rank) return v as Level;
  throw new Error(`LOG_LEVEL ${JSON.stringify(s)} is none of debug, info, warn, error`);
}

export function newLogger(service: string, level: Level, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const log = (lvl: Level, msg: string, attrs: Record<string, unknown> = {}) => {
    if (rank[lvl] < rank[level]) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg, service };
    for (const [k, v] of Object.entries(attrs)) rec[k] = v instanceof Error ? v.message : v;
    const tc = currentTrace();
    if (tc) {
      rec.trace_id = tc.traceId;
      rec.span_id = tc.spanId;
    }
    write(JSON.stringify(rec) + "\n");
  };
  return {
    debug: (m, a) => log("DEBUG", m, a),
    info: (m, a) => log("INFO", m, a),
    warn: (m, a) => log("WARN", m, a),
    error: (m, a) => log("ERROR", m, a),
  };
}
