// The worker's module: yours to edit (add requirements here); `ap generate` only creates it.
module probe-worker

go 1.24

require autopilot.dev/sdk-go v0.0.0

// What the SDK needs, listed so that the worker builds without `go mod tidy`.
require (
	golang.org/x/net v0.35.0 // indirect
	golang.org/x/sys v0.30.0 // indirect
	golang.org/x/text v0.22.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250218202821-56aae31c358a // indirect
	google.golang.org/grpc v1.72.1 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

// The SDK from a local checkout.
replace autopilot.dev/sdk-go => ../../../../../sdk-go
