package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// The protobuf encoding of orderEvent, written by hand with protowire (the
// wire format generated code produces: field numbers 1 to 6 in the order
// of the struct, the items a repeated message of product_id = 1 and
// quantity = 2). No protoc is needed to measure it; generated code does
// a little more work (reflection tables, unknown fields), so this is
// protobuf at its fastest.
func appendOrderEventProto(b []byte, e orderEvent) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, e.OrderID)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, e.UserID)
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendString(b, string(e.Status))
	b = protowire.AppendTag(b, 4, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(e.TotalCents))
	if e.Reason != "" {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendString(b, e.Reason)
	}
	for _, it := range e.Items {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, it.ProductID)
		m = protowire.AppendTag(m, 2, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(it.Quantity))
		b = protowire.AppendTag(b, 6, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b
}

func parseEventItemProto(b []byte) (eventItem, error) {
	var it eventItem
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return it, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			if n < 0 {
				return it, protowire.ParseError(n)
			}
			b, it.ProductID = b[n:], v
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return it, protowire.ParseError(n)
			}
			b, it.Quantity = b[n:], int64(v)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return it, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return it, nil
}

func parseOrderEventProto(b []byte) (orderEvent, error) {
	var e orderEvent
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return e, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case typ == protowire.BytesType && num == 6:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return e, protowire.ParseError(n)
			}
			b = b[n:]
			it, err := parseEventItemProto(v)
			if err != nil {
				return e, err
			}
			e.Items = append(e.Items, it)
		case typ == protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			if n < 0 {
				return e, protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case 1:
				e.OrderID = v
			case 2:
				e.UserID = v
			case 3:
				e.Status = Status(v)
			case 5:
				e.Reason = v
			}
		case typ == protowire.VarintType && num == 4:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return e, protowire.ParseError(n)
			}
			b = b[n:]
			e.TotalCents = int64(v)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return e, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return e, nil
}

// BenchmarkEventEncoding encodes and decodes the payload of
// order.cancelled (orderEvent, with a reason) as the saga publishes it
// (JSON, variant=json) and as protobuf (variant=protobuf). bytes/event is
// the payload's size.
func BenchmarkEventEncoding(b *testing.B) {
	e := orderEvent{
		OrderID: "7c1e5a0e-2f4b-4c6a-9a53-1f0d2b7e8c41", UserID: "1f65b0c2-8d3e-4b7a-a1c9-5e2f7d0a9b36",
		Status: StatusCancelled, TotalCents: 5490, Reason: "payment declined: the wallet's balance is below the amount",
		Items: []eventItem{{ProductID: "paper-filters-100", Quantity: 2}, {ProductID: "pour-over-kettle", Quantity: 1}},
	}
	b.Run("variant=json", func(b *testing.B) {
		var size int
		b.ReportAllocs()
		for b.Loop() {
			raw, err := json.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			size = len(raw)
			var got orderEvent
			if err := json.Unmarshal(raw, &got); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size), "bytes/event")
	})
	b.Run("variant=protobuf", func(b *testing.B) {
		var size int
		b.ReportAllocs()
		for b.Loop() {
			raw := appendOrderEventProto(nil, e)
			size = len(raw)
			got, err := parseOrderEventProto(raw)
			if err != nil {
				b.Fatal(err)
			}
			if !reflect.DeepEqual(got, e) {
				b.Fatal(fmt.Sprintf("decoded %+v", got))
			}
		}
		b.ReportMetric(float64(size), "bytes/event")
	})
}
