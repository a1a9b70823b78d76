// The subscription route for order.completed, by the Go consumers' rules
// (internal/cloudevent): a body that is not a CloudEvent with an id, or
// whose data breaks the schema, is poison (DROP: Dapr dead-letters it);
// applied, or found applied before, is SUCCESS; any other failure asks
// Dapr to redeliver (RETRY). Each delivery is counted by outcome.
import type { IncomingMessage, ServerResponse } from "node:http";
import { checkOrderCompleted, type OrderCompleted } from "./order.js";
import { respond } from "./problem.js";
import type { Deps } from "./routes.js";
import { distinctProducts } from "./together.js";

export const orderCompletedTopic = "order.completed";
// maxEventBytes bounds an event body, as the Go consumers do; a bigger one is poison.
export const maxEventBytes = 1 << 20;

type Status = "SUCCESS" | "RETRY" | "DROP";

class Poison extends Error {
  constructor(
    message: string,
    readonly eventId = "",
  ) {
    super(message);
  }
}

export async function handleOrderCompleted(deps: Deps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const answer = (status: Status, outcome: string) => {
    deps.metrics.events.inc({ outcome, topic: orderCompletedTopic });
    respond(res, 200, { status });
  };
  let eventId = "";
  try {
    const body = await readBody(req);
    const ev = decode(body);
    eventId = ev.id;
    const applied = await deps.service.applyOrder(ev.id, ev.data.order_id, distinctProducts(ev.data.items));
    deps.logger.info("event applied", { event_id: ev.id, topic: orderCompletedTopic, duplicate: !applied });
    answer("SUCCESS", applied ? "success" : "duplicate");
  } catch (err) {
    if (err instanceof Poison) {
      deps.logger.warn("event dropped", { event_id: err.eventId || eventId, topic: orderCompletedTopic, error: err });
      return answer("DROP", "drop");
    }
    deps.logger.error("event not applied; dapr will redeliver it", { event_id: eventId, topic: orderCompletedTopic, error: err });
    answer("RETRY", "retry");
  }
}

// readBody reads up to maxEventBytes; a longer body is poison, a cut one
// is worth a retry (it throws a plain error).
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxEventBytes) throw new Poison(`event larger than ${maxEventBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// decode reads the CloudEvent envelope and its data (data published as a
// JSON string holding JSON is unwrapped once, as the Go consumers do).
export function decode(body: Buffer): { id: string; data: OrderCompleted } {
  let ev: { id?: unknown; data?: unknown };
  try {
    ev = JSON.parse(body.toString("utf8")) as typeof ev;
  } catch (err) {
    throw new Poison(`envelope is not a JSON CloudEvent: ${(err as Error).message}`);
  }
  if (typeof ev !== "object" || ev === null || typeof ev.id !== "string" || ev.id === "") throw new Poison("event has no id");
  let data = ev.data;
  if (typeof data === "string") {
    try {
      data = JSON.parse(data);
    } catch {
      // a string that is not JSON: checked (and refused) below
    }
  }
  const problems = checkOrderCompleted(data);
  if (problems.length) throw new Poison(`event ${ev.id} data: ${problems.join("; ")}`, ev.id);
  return { id: ev.id, data: data as OrderCompleted };
}
