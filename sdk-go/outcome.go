package autopilot

import (
	"encoding/json"
	"fmt"
	"time"
)

// Severity is the type of the Kubernetes Event an outcome becomes.
type Severity int

const (
	// Normal becomes an Event of type Normal.
	Normal Severity = iota + 1
	// Warning becomes an Event of type Warning.
	Warning
)

// Event is an outcome of a call, reported as a Kubernetes Event on the resource.
type Event struct {
	Severity Severity
	// Reason is CamelCase, for example "WeightIncreased".
	Reason  string
	Message string
}

// Outcome is what a phase handler decides: the next phase (or stay), the objects to apply, the
// new statusInfo, conditions, events, and when to run again.
//
//	return autopilot.Next("Checking").
//		Output(outputs.ConfigMap(name).Data("target", spec.Target)).
//		Status(model.StatusInfo{Seen: &seen}).
//		Condition("Prepared", true, "Created", "prepared "+name).
//		EventNormal("Prepared", "prepared "+name), nil
type Outcome struct {
	nextPhase    string
	outputs      []json.RawMessage
	statusInfo   any
	hasStatus    bool
	conditions   []Condition
	events       []Event
	requeueAfter time.Duration
	err          error
}

// Next moves the resource to phase.
func Next(phase string) *Outcome { return &Outcome{nextPhase: phase} }

// Stay keeps the resource in its phase; the scheduler runs it again after RequeueAfter or the
// operator's work interval.
func Stay() *Outcome { return &Outcome{} }

// Output adds an object to apply with server-side apply: a builder from the outputs package, a
// typed Kubernetes object, or a map. It must have apiVersion, kind and metadata.name, and its
// kind must be declared as an output of the phase. An object that cannot be turned into JSON
// fails the call (see Err).
func (o *Outcome) Output(object any) *Outcome {
	raw, err := json.Marshal(object)
	if err != nil {
		if o.err == nil {
			o.err = fmt.Errorf("output %d: %w", len(o.outputs), err)
		}
		return o
	}
	o.outputs = append(o.outputs, raw)
	return o
}

// Status sets the new .status.statusInfo (any value that marshals to JSON, normally the
// generated StatusInfo type). Without it the current value is kept.
func (o *Outcome) Status(statusInfo any) *Outcome {
	o.statusInfo = statusInfo
	o.hasStatus = true
	return o
}

// Condition sets a condition on .status.conditions (merged by type). A type the scheduler owns
// ([SchedulerConditions]) or an empty one fails the call (see Err).
func (o *Outcome) Condition(conditionType string, status bool, reason, message string) *Outcome {
	if why := refusal(conditionType); why != "" {
		if o.err == nil {
			o.err = fmt.Errorf("condition %d: %s", len(o.conditions), why)
		}
		return o
	}
	o.conditions = append(o.conditions, NewCondition(conditionType, status, reason, message))
	return o
}

// EventNormal reports a Normal Event.
func (o *Outcome) EventNormal(reason, message string) *Outcome {
	o.events = append(o.events, Event{Severity: Normal, Reason: reason, Message: message})
	return o
}

// EventWarning reports a Warning Event.
func (o *Outcome) EventWarning(reason, message string) *Outcome {
	o.events = append(o.events, Event{Severity: Warning, Reason: reason, Message: message})
	return o
}

// RequeueAfter runs the phase again after d when the outcome stays in the phase.
func (o *Outcome) RequeueAfter(d time.Duration) *Outcome {
	o.requeueAfter = d
	return o
}

// NextPhase is the phase to move to, "" to stay.
func (o *Outcome) NextPhase() string { return o.nextPhase }

// Outputs are the objects to apply, as JSON.
func (o *Outcome) Outputs() []json.RawMessage { return o.outputs }

// StatusInfo is the statusInfo set with Status, and whether one was set.
func (o *Outcome) StatusInfo() (any, bool) { return o.statusInfo, o.hasStatus }

// Conditions are the conditions to set.
func (o *Outcome) Conditions() []Condition { return o.conditions }

// Events are the events to report.
func (o *Outcome) Events() []Event { return o.events }

// Requeue is the delay set with RequeueAfter, or 0.
func (o *Outcome) Requeue() time.Duration { return o.requeueAfter }

// Err is the first problem met while building the outcome (an output that is not JSON), or nil.
func (o *Outcome) Err() error { return o.err }

// Finalized is what a finalize handler decides: whether cleanup is complete.
type Finalized struct {
	done         bool
	events       []Event
	requeueAfter time.Duration
}

// Done says cleanup is complete: the scheduler removes the finalizer.
func Done() *Finalized { return &Finalized{done: true} }

// NotYet says cleanup is still running: the scheduler calls again.
func NotYet() *Finalized { return &Finalized{} }

// RequeueAfter asks to be called again after d (when not done).
func (f *Finalized) RequeueAfter(d time.Duration) *Finalized {
	f.requeueAfter = d
	return f
}

// EventNormal reports a Normal Event.
func (f *Finalized) EventNormal(reason, message string) *Finalized {
	f.events = append(f.events, Event{Severity: Normal, Reason: reason, Message: message})
	return f
}

// EventWarning reports a Warning Event.
func (f *Finalized) EventWarning(reason, message string) *Finalized {
	f.events = append(f.events, Event{Severity: Warning, Reason: reason, Message: message})
	return f
}

// IsDone reports whether cleanup is complete.
func (f *Finalized) IsDone() bool { return f.done }

// Events are the events to report.
func (f *Finalized) Events() []Event { return f.events }

// Requeue is the delay set with RequeueAfter, or 0.
func (f *Finalized) Requeue() time.Duration { return f.requeueAfter }
