package autopilot

import (
	"fmt"
	"slices"
	"strings"
)

// SchedulerConditions are the condition types the scheduler owns and writes itself. A worker may
// read them but not set them: an Outcome that sets one fails the call (see [Outcome.Err]) before
// it reaches the scheduler, which would refuse it too.
//
//   - Ready: the resource is in a final phase, or its last call succeeded;
//   - Progressing: the resource is moving through its phases (Blocked, Retrying, ...);
//   - WorkerError: the last worker call, or applying its result, failed;
//   - InputsAvailable: every resource input of the phase could be read;
//   - MetricsAvailable: every metric query of the phase succeeded;
//   - Paused: the resource is held by `ap pause`;
//   - AwaitingApproval: a gate of the current phase waits for `ap approve`;
//   - Aborted: `ap abort` was honoured, or could not be.
var SchedulerConditions = []string{"Ready", "Progressing", "WorkerError", "InputsAvailable", "MetricsAvailable", "Paused", "AwaitingApproval", "Aborted"}

// refusal says why a worker may not set a condition of conditionType, or "" when it may.
func refusal(conditionType string) string {
	if conditionType == "" {
		return "a condition needs a type"
	}
	if slices.Contains(SchedulerConditions, conditionType) {
		return fmt.Sprintf("condition type %s is owned by the scheduler (it owns %s); give the condition a type of the operator's own, such as Healthy or Analyzed",
			conditionType, strings.Join(SchedulerConditions, ", "))
	}
	return ""
}

// Condition is a status condition in the shape of metav1.Condition (without the times, which the
// scheduler sets).
type Condition struct {
	// Type is CamelCase, for example "Healthy". The scheduler owns the types in
	// [SchedulerConditions] (Ready, Progressing, WorkerError, InputsAvailable,
	// MetricsAvailable, Paused, AwaitingApproval, Aborted); a worker may not set them.
	Type string `json:"type"`
	// Status is "True", "False" or "Unknown".
	Status string `json:"status"`
	// Reason is CamelCase.
	Reason string `json:"reason,omitempty"`
	// Message is for humans.
	Message string `json:"message,omitempty"`
}

// NewCondition is a condition that is "True" or "False".
func NewCondition(conditionType string, status bool, reason, message string) Condition {
	s := "False"
	if status {
		s = "True"
	}
	return Condition{Type: conditionType, Status: s, Reason: reason, Message: message}
}

// IsTrue reports whether the condition's status is "True".
func (c Condition) IsTrue() bool { return c.Status == "True" }
