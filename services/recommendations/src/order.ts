// The data of an order.completed event (contracts/events/
// order.completed.schema.json), checked field by field: what fails is
// poison, dropped to the dead-letter topic. Fields this service does not
// know are ignored, as the schema allows.
import { validProductId } from "./together.js";

export interface OrderLine {
  product_id: string;
  quantity: number;
}

export interface OrderCompleted {
  order_id: string;
  user_id: string;
  status: "completed";
  total_cents: number;
  items: OrderLine[];
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// checkOrderCompleted returns the problems of v as an order.completed's
// data: empty when it is one.
export function checkOrderCompleted(v: unknown): string[] {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return ["data is not a JSON object"];
  const o = v as Record<string, unknown>;
  const problems: string[] = [];
  for (const f of ["order_id", "user_id"]) {
    if (typeof o[f] !== "string" || !uuidPattern.test(o[f] as string)) problems.push(`${f} is not a lower-case dashed UUID`);
  }
  if (o.status !== "completed") problems.push(`status is ${JSON.stringify(o.status)}, not "completed"`);
  if (!Number.isSafeInteger(o.total_cents) || (o.total_cents as number) < 1) problems.push("total_cents is not a positive integer");
  if (!Array.isArray(o.items) || o.items.length === 0) {
    problems.push("items is not a non-empty array");
    return problems;
  }
  o.items.forEach((line: unknown, i: number) => {
    const l = line as Record<string, unknown> | null;
    if (typeof l !== "object" || l === null) {
      problems.push(`items[${i}] is not an object`);
      return;
    }
    if (typeof l.product_id !== "string" || !validProductId(l.product_id)) problems.push(`items[${i}].product_id is not a product id`);
    if (!Number.isSafeInteger(l.quantity) || (l.quantity as number) < 1) problems.push(`items[${i}].quantity is not a positive integer`);
  });
  return problems;
}
