package autopilot

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// RetryAfterTrailer is the gRPC trailer with the least delay, in decimal milliseconds, before the
// scheduler retries a retryable error.
const RetryAfterTrailer = "autopilot-retry-after-ms"

// ErrorKind says how the scheduler treats a handler's error.
type ErrorKind int

const (
	// KindRetryable errors are retried with backoff: the gRPC code UNAVAILABLE.
	KindRetryable ErrorKind = iota + 1
	// KindPermanent errors stop the phase until its inputs change: FAILED_PRECONDITION.
	KindPermanent
	// KindInvalid errors say the request itself was wrong (a missing input, a spec that does
	// not match the schema): INVALID_ARGUMENT, permanent.
	KindInvalid
)

// Error is a handler failure with the gRPC code the scheduler receives. Build one with
// [Retryable], [Permanent] or [Invalid]; any other error a handler returns is sent as INTERNAL
// (permanent).
type Error struct {
	Kind       ErrorKind
	Message    string
	retryAfter time.Duration
}

// Retryable is a temporary failure: the scheduler calls the phase again with backoff.
func Retryable(format string, args ...any) *Error {
	return &Error{Kind: KindRetryable, Message: fmt.Sprintf(format, args...)}
}

// Permanent is a failure that retrying will not fix; it shows as a WorkerError condition.
func Permanent(format string, args ...any) *Error {
	return &Error{Kind: KindPermanent, Message: fmt.Sprintf(format, args...)}
}

// Invalid says the request was wrong (for example a missing input); permanent.
func Invalid(format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Message: fmt.Sprintf(format, args...)}
}

// WithRetryAfter asks the scheduler to wait at least d before retrying (sent as the
// autopilot-retry-after-ms trailer; only meaningful for retryable errors).
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	e.retryAfter = d
	return e
}

// RetryAfter is the delay set with WithRetryAfter, or 0.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

func (e *Error) Error() string { return e.Message }

// Code is the gRPC status code the scheduler receives for this error.
func (e *Error) Code() codes.Code {
	switch e.Kind {
	case KindRetryable:
		return codes.Unavailable
	case KindPermanent:
		return codes.FailedPrecondition
	case KindInvalid:
		return codes.InvalidArgument
	default:
		return codes.Internal
	}
}

// IsRetryable reports whether the contract makes the scheduler retry this code with backoff.
func IsRetryable(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

// CodeOf is the gRPC code err is sent as: the code of an *Error in its chain, INTERNAL otherwise.
func CodeOf(err error) codes.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return codes.Internal
}

// toStatus is the gRPC status for err, and the trailer to send with it.
func toStatus(err error) (*status.Status, metadata.MD) {
	var e *Error
	if errors.As(err, &e) {
		var trailer metadata.MD
		if e.retryAfter > 0 {
			trailer = metadata.Pairs(RetryAfterTrailer, strconv.FormatInt(e.retryAfter.Milliseconds(), 10))
		}
		return status.New(e.Code(), err.Error()), trailer
	}
	return status.New(codes.Internal, err.Error()), nil
}
