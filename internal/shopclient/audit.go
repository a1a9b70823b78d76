package shopclient

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Shopper is a user whose wallet a run spends from.
type Shopper struct {
	ID, Token string
}

// books is what a run is audited against: every product's units, the
// shoppers' wallets, the merchant's balance.
type books struct {
	stock    map[string]Stock
	wallets  map[string]int64 // shopper id → balance
	merchant int64
}

func (c *Client) readBooks(ctx context.Context, apps *Apps, shoppers []Shopper) (books, error) {
	var b books
	var err error
	if b.stock, err = apps.Stock(ctx); err != nil {
		return b, err
	}
	if b.merchant, err = apps.Merchant(ctx); err != nil {
		return b, err
	}
	b.wallets = make(map[string]int64, len(shoppers))
	for _, s := range shoppers {
		if b.wallets[s.ID], err = c.Wallet(ctx, s.Token); err != nil {
			return b, err
		}
	}
	return b, nil
}

// Audit is the invariant checker of a run: it reads the books when the
// run begins, takes every order the run placed (or the fact that a
// placement's outcome is unknown), and once the sagas have ended holds
// the books against them:
//   - per product, available + reserved + sold is what it was (no unit
//     made or lost), and available never below zero;
//   - no reservation is held;
//   - every completed order was charged exactly its total, once; no
//     cancelled order is paid, and each says why it was cancelled;
//   - the units sold, the money gone from the shoppers' wallets and the
//     money the merchant got are exactly what the completed orders
//     account for (per product and per wallet when every outcome is
//     known; in total, give or take what the placements of unknown
//     outcome could explain, when some are not).
//
// The run must be the only one moving money and stock while it is open.
type Audit struct {
	c        *Client
	apps     *Apps
	shoppers []Shopper
	before   books

	mu           sync.Mutex
	orders       map[string]Order  // id → the order as last seen
	tokens       map[string]string // id → its shopper's token
	unknown      int
	unknownUnits int64
	unknownMoney int64
}

// Open reads the books for a run by shoppers.
func Open(ctx context.Context, c *Client, apps *Apps, shoppers ...Shopper) (*Audit, error) {
	before, err := c.readBooks(ctx, apps, shoppers)
	if err != nil {
		return nil, fmt.Errorf("open the audit: %w", err)
	}
	return &Audit{c: c, apps: apps, shoppers: slices.Clone(shoppers), before: before,
		orders: map[string]Order{}, tokens: map[string]string{}}, nil
}

// Join adds a shopper whose wallet the run spends from, read now.
func (a *Audit) Join(ctx context.Context, s Shopper) error {
	bal, err := a.c.Wallet(ctx, s.Token)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.shoppers = append(a.shoppers, s)
	a.before.wallets[s.ID] = bal
	return nil
}

// Placed records an order the run placed, by the token of its shopper;
// o may be final already (the runner awaited it) or not.
func (a *Audit) Placed(token string, o Order) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if have, ok := a.orders[o.ID]; ok && have.Final() && !o.Final() {
		return
	}
	a.orders[o.ID], a.tokens[o.ID] = o, token
}

// Unknown records a placement whose outcome the runner could not learn
// (the request failed or timed out): it may have sold units and taken
// money, or not.
func (a *Audit) Unknown(units, cents int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unknown++
	a.unknownUnits += units
	a.unknownMoney += cents
}

// Check waits, up to within, for every recorded order to end, reads the
// books again and returns the verdict. An order that has not ended by
// then is Pending, and its outcome unknown.
func (a *Audit) Check(ctx context.Context, within time.Duration) Verdict {
	a.mu.Lock()
	orders, tokens := maps.Clone(a.orders), maps.Clone(a.tokens)
	v := Verdict{Unknown: a.unknown, UnitsUnknown: a.unknownUnits, MoneyUnknown: a.unknownMoney, Systems: 1}
	shoppers := slices.Clone(a.shoppers)
	a.mu.Unlock()

	wait, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		if orders[id].Final() {
			continue
		}
		o, err := a.c.AwaitFinal(wait, tokens[id], id, 100*time.Millisecond)
		if err == nil {
			orders[id] = o
			continue
		}
		if ctx.Err() != nil {
			v.Err = err
			return v
		}
		// Not ended within the bound: its outcome is unknown, what it
		// may move is what the order holds (as last read, if it was).
		v.Pending = append(v.Pending, id)
		v.Unknown++
		v.MoneyUnknown += o.TotalCents
		for _, it := range o.Items {
			v.UnitsUnknown += it.Quantity
		}
		delete(orders, id)
	}
	after, err := a.c.readBooks(ctx, a.apps, shoppers)
	if err != nil {
		v.Err = err
		return v
	}
	held, err := a.apps.HeldReservations(ctx)
	if err != nil {
		v.Err = err
		return v
	}
	v.fail(held > v.Unknown, "%d reservations are held once the sagas ended", held)
	sold, spent := map[string]int64{}, map[string]int64{} // what the completed orders account for
	for _, id := range slices.Sorted(maps.Keys(orders)) {
		if err := v.order(ctx, a.apps, orders[id], sold, spent); err != nil {
			v.Err = err
			return v
		}
	}
	for _, id := range slices.Sorted(maps.Keys(after.stock)) {
		s, was := after.stock[id], a.before.stock[id]
		v.fail(s.Total() != was.Total(), "units of %s are not conserved: %d before, %+v after", id, was.Total(), s)
		v.fail(s.Available < 0, "product %s has %d units available", id, s.Available)
		v.UnitsSold += s.Sold - was.Sold
		if extra := s.Sold - was.Sold - sold[id]; v.Unknown == 0 && extra != 0 {
			v.fail(true, "%d units of %s were sold; its completed orders account for %d", s.Sold-was.Sold, id, sold[id])
			v.Duplicates += int(max(extra, 0))
		}
	}
	for _, s := range shoppers {
		gone := a.before.wallets[s.ID] - after.wallets[s.ID]
		v.MoneyGone += gone
		if v.Unknown == 0 && gone != spent[s.ID] {
			v.fail(true, "the wallet of %s lost %d cents; its completed orders cost %d", s.ID, gone, spent[s.ID])
			if gone > spent[s.ID] {
				v.Duplicates++
			}
		}
		delete(spent, s.ID)
	}
	for _, id := range slices.Sorted(maps.Keys(spent)) {
		v.fail(true, "orders of %s, who has no wallet in this run, completed", id)
	}
	v.MerchantGot = after.merchant - a.before.merchant
	v.fail(v.UnitsSold < v.UnitsWant || v.UnitsSold > v.UnitsWant+v.UnitsUnknown,
		"%d units were sold; the completed orders account for %d", v.UnitsSold, v.UnitsWant)
	v.fail(v.MoneyGone < v.MoneyWant || v.MoneyGone > v.MoneyWant+v.MoneyUnknown,
		"the wallets lost %d cents; the completed orders cost %d", v.MoneyGone, v.MoneyWant)
	v.fail(v.MerchantGot != v.MoneyGone, "the merchant got %d cents; the wallets lost %d", v.MerchantGot, v.MoneyGone)
	return v
}

// order holds one ended order against its charge.
func (v *Verdict) order(ctx context.Context, apps *Apps, o Order, sold, spent map[string]int64) error {
	ch, found, err := apps.Charge(ctx, o.ID)
	if err != nil {
		return err
	}
	switch o.Status {
	case "completed":
		v.Completed++
		v.MoneyWant += o.TotalCents
		spent[o.UserID] += o.TotalCents
		for _, it := range o.Items {
			v.UnitsWant += it.Quantity
			sold[it.ProductID] += it.Quantity
		}
		v.fail(!found || ch.Status != "charged" || ch.AmountCents != o.TotalCents,
			"completed order %s (%d cents) is not charged its total: %+v", o.ID, o.TotalCents, ch)
	case "cancelled":
		v.Cancelled++
		v.fail(found && ch.Status == "charged", "cancelled order %s is paid: %+v", o.ID, ch)
		v.fail(o.Reason == "", "cancelled order %s does not say why", o.ID)
	default:
		v.fail(true, "order %s ended %q", o.ID, o.Status)
	}
	return nil
}

// Verdict is what an audit found.
type Verdict struct {
	Completed, Cancelled, Unknown int
	UnitsWant, UnitsSold          int64 // what the completed orders account for; what the catalog sold
	UnitsUnknown                  int64 // the units of the placements of unknown outcome
	MoneyWant, MoneyGone          int64 // what the completed orders cost; what left the wallets
	MoneyUnknown                  int64 // the cost of the placements of unknown outcome
	MerchantGot                   int64
	Duplicates                    int      // effects applied twice: units sold or wallets charged beyond the completed orders
	Pending                       []string // the orders that did not end within the bound (counted unknown)
	Problems                      []string // each invariant broken, in words
	Systems                       int      // how many systems the verdict sums
	Err                           error    // the audit could not run to the end
}

func (v *Verdict) fail(broken bool, format string, args ...any) {
	if broken {
		v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
	}
}

// Held reports that every invariant held and every outcome was known.
func (v Verdict) Held() bool { return v.Err == nil && len(v.Problems) == 0 && v.Unknown == 0 }

// Broken reports an invariant broken beyond what the placements of
// unknown outcome could explain.
func (v Verdict) Broken() bool { return v.Err == nil && len(v.Problems) > 0 }

// Add sums w into v (the verdicts of several systems).
func (v *Verdict) Add(w Verdict) {
	v.Completed += w.Completed
	v.Cancelled += w.Cancelled
	v.Unknown += w.Unknown
	v.UnitsWant += w.UnitsWant
	v.UnitsSold += w.UnitsSold
	v.UnitsUnknown += w.UnitsUnknown
	v.MoneyWant += w.MoneyWant
	v.MoneyGone += w.MoneyGone
	v.MoneyUnknown += w.MoneyUnknown
	v.MerchantGot += w.MerchantGot
	v.Duplicates += w.Duplicates
	v.Pending = append(v.Pending, w.Pending...)
	v.Problems = append(v.Problems, w.Problems...)
	v.Systems += w.Systems
	if v.Err == nil {
		v.Err = w.Err
	}
}

// Summary is the verdict in one line, for a log or a report.
func (v Verdict) Summary() string {
	if v.Err != nil {
		return "not checked: " + strings.Join(strings.Fields(v.Err.Error()), " ")
	}
	verdict := "**held**"
	switch {
	case v.Broken():
		verdict = "**broken** (" + strings.Join(v.Problems, "; ") + ")"
	case v.Unknown > 0:
		verdict = "inconclusive (within what the placements of unknown outcome could explain)"
	}
	unknown := ""
	if v.Unknown > 0 {
		unknown = fmt.Sprintf(", up to %d units and %.2f more if the placements of unknown outcome completed", v.UnitsUnknown, float64(v.MoneyUnknown)/100)
	}
	if len(v.Problems) == 0 {
		unknown += "; no unit made or lost, no reservation held, every completed order charged its total once"
	}
	return fmt.Sprintf("%s: %d sagas completed, %d cancelled, %d of unknown outcome; units sold %d (expected from the completed sagas: %d); money gone from the wallets %.2f, to the merchant %.2f (expected: %.2f)%s",
		verdict, v.Completed, v.Cancelled, v.Unknown, v.UnitsSold, v.UnitsWant, float64(v.MoneyGone)/100, float64(v.MerchantGot)/100, float64(v.MoneyWant)/100, unknown)
}
