package autopilot

// This file holds ExternalEvent: an event from outside the cluster delivered to a phase.

import (
	"encoding/json"
	"time"

	pb "autopilot.dev/sdk-go/workerv1"
)

// ExternalEvent is one event from outside the cluster (a CloudEvent, a GitHub delivery, a
// generic webhook call), in the shape of a CloudEvent. The scheduler hands each event to a
// resource's phase until a call of that phase succeeds and its result is written, so a handler
// sees an event again only when its previous call failed.
type ExternalEvent struct {
	// ID is unique per source: the CloudEvents id, GitHub's X-GitHub-Delivery, or the webhook's
	// delivery id.
	ID string
	// Source is the CloudEvents source; for GitHub the repository's URL; for a webhook its name.
	Source string
	// Type is the CloudEvents type; for GitHub "event.action" such as "pull_request.closed".
	Type string
	// Subject is the CloudEvents subject, "" when absent.
	Subject string
	// Time is when it happened (or was received, when it does not say).
	Time time.Time
	// DataContentType is the media type of Data, such as "application/json".
	DataContentType string
	// Data is the payload, exactly as received.
	Data []byte
	// Extensions are the CloudEvents extension attributes.
	Extensions map[string]string
	// Accepted is when the scheduler accepted (stored) it.
	Accepted time.Time
}

// DecodeData decodes the event's JSON payload into v (a struct generated from the source's
// schema, or a map). It fails with an invalid-request error naming the event.
func (e ExternalEvent) DecodeData(v any) error {
	if err := decode(json.RawMessage(e.Data), v); err != nil {
		return Invalid("event %q data: %v", e.ID, err)
	}
	return nil
}

// Events are the pending events of the event source named key in autopilot.yaml, oldest first.
//
// It fails with a retryable error when the scheduler could not read them, and with an
// invalid-request error when the phase does not list the source among its inputs.
func (c *Context[S, I]) Events(key string) ([]ExternalEvent, error) {
	input, ok := c.events[key]
	if !ok {
		return nil, c.missing(key)
	}
	if input.err != "" {
		return nil, Retryable("events of %q are unavailable: %s", key, input.err)
	}
	return input.items, nil
}

// eventInput is one event source's input: its events, or why they could not be read.
type eventInput struct {
	items []ExternalEvent
	err   string
}

// Events sets the pending events of the event source key.
func (b *ContextBuilder[S, I]) Events(key string, events ...ExternalEvent) *ContextBuilder[S, I] {
	b.events[key] = eventInput{items: events}
	return b
}

// EventsUnavailable marks the events of source key as ones the scheduler could not read.
func (b *ContextBuilder[S, I]) EventsUnavailable(key, message string) *ContextBuilder[S, I] {
	b.events[key] = eventInput{err: message}
	return b
}

func eventFromProto(e *pb.ExternalEvent) ExternalEvent {
	at := func(ms int64) time.Time {
		if ms <= 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms)
	}
	return ExternalEvent{
		ID:              e.GetId(),
		Source:          e.GetSource(),
		Type:            e.GetType(),
		Subject:         e.GetSubject(),
		Time:            at(e.GetTimeUnixMs()),
		DataContentType: e.GetDataContentType(),
		Data:            e.GetData(),
		Extensions:      e.GetExtensions(),
		Accepted:        at(e.GetAcceptedUnixMs()),
	}
}
