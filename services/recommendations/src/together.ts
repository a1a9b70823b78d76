// "Bought together": for each product, how many completed orders held it
// together with each other product. One record per product, bounded.

// A product id as the catalog makes them (and the event schema allows).
export const productIdPattern = /^[a-z0-9]+(-[a-z0-9]+)*$/;
export const maxProductIdLength = 64;

// maxPartners bounds one product's record: past it, the partners bought
// together least often (then the greatest ids) are forgotten, so a record
// never grows with the catalog.
export const maxPartners = 50;

// Together is one product's record: partner product id → orders that held both.
export interface Together {
  counts: Record<string, number>;
}

export interface Recommendation {
  product_id: string;
  orders: number;
}

export function validProductId(id: string): boolean {
  return id.length <= maxProductIdLength && productIdPattern.test(id);
}

// distinctProducts lists an order's products once each, sorted, so that a
// product on two lines counts once and the keys are written in one order.
export function distinctProducts(items: readonly { product_id: string }[]): string[] {
  return [...new Set(items.map((i) => i.product_id))].sort();
}

// addOrder returns each product's record with one more order holding all of
// products; records absent from current start empty. A single product has
// no partner: its record is returned unchanged.
export function addOrder(current: ReadonlyMap<string, Together>, products: readonly string[]): Map<string, Together> {
  const next = new Map<string, Together>();
  for (const p of products) {
    const counts: Record<string, number> = { ...(current.get(p)?.counts ?? {}) };
    for (const q of products) {
      if (q !== p) counts[q] = (counts[q] ?? 0) + 1;
    }
    next.set(p, { counts: bounded(counts) });
  }
  return next;
}

// ranked orders partners by orders (most first), then by id.
function ranked(counts: Record<string, number>): Recommendation[] {
  return Object.entries(counts)
    .map(([product_id, orders]) => ({ product_id, orders }))
    .sort((a, b) => b.orders - a.orders || (a.product_id < b.product_id ? -1 : a.product_id > b.product_id ? 1 : 0));
}

function bounded(counts: Record<string, number>): Record<string, number> {
  const all = ranked(counts);
  if (all.length <= maxPartners) return counts;
  return Object.fromEntries(all.slice(0, maxPartners).map((r) => [r.product_id, r.orders]));
}

// top is a record's limit partners bought together most often.
export function top(t: Together | undefined, limit: number): Recommendation[] {
  return t ? ranked(t.counts).slice(0, limit) : [];
}

// readTogether checks a stored record's shape; anything else is a bug or
// a foreign write, never guessed at.
export function readTogether(v: unknown): Together {
  if (typeof v !== "object" || v === null || typeof (v as Together).counts !== "object" || (v as Together).counts === null) {
    throw new Error("stored record is not {counts: {...}}");
  }
  for (const [k, n] of Object.entries((v as Together).counts)) {
    if (!validProductId(k) || !Number.isSafeInteger(n) || n < 1) {
      throw new Error(`stored record has a bad count ${JSON.stringify(k)}: ${JSON.stringify(n)}`);
    }
  }
  return v as Together;
}
