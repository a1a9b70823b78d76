// Answers in the Go services' shapes: JSON, and RFC 9457 problem details
// naming the offending fields (internal/web/problem.go).
import type { ServerResponse } from "node:http";

export interface FieldError {
  field: string;
  detail: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
}

const titles: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export function respond(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body) + "\n";
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(json) });
  res.end(json);
}

export function problem(res: ServerResponse, status: number, instance: string, detail?: string, errors?: FieldError[]): void {
  const p: Problem = { type: "about:blank", title: titles[status] ?? "Error", status, instance };
  if (detail) p.detail = detail;
  if (errors?.length) p.errors = errors;
  const json = JSON.stringify(p) + "\n";
  res.writeHead(status, { "Content-Type": "application/problem+json", "X-Content-Type-Options": "nosniff", "Content-Length": Buffer.byteLength(json) });
  res.end(json);
}
