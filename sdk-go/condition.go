package autopilot

// Condition is a status condition in the shape of metav1.Condition (without the times, which the
// scheduler sets).
type Condition struct {
	// Type is CamelCase, for example "Healthy". The scheduler owns Ready, Progressing and
	// WorkerError.
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
