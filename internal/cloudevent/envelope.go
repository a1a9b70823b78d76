package cloudevent

import "encoding/json"

// ContentType is how a publisher tells daprd that the body is a CloudEvent
// of its own: daprd then keeps its id (the consumers' de-duplication key)
// instead of wrapping the body in an envelope with an id of its own.
const ContentType = "application/cloudevents+json"

// Envelope is the CloudEvent the shop publishes on topic: the id chosen by
// the publisher (stable across its retries), its app as the source, the type
// com.daprshop.<topic>, and data as JSON.
func Envelope(topic, id, source string, data any) ([]byte, error) {
	return json.Marshal(map[string]any{
		"specversion":     "1.0",
		"id":              id,
		"source":          source,
		"type":            "com.daprshop." + topic,
		"datacontenttype": "application/json",
		"data":            data,
	})
}
