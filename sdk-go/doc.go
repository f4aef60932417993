// Package autopilot is the Go SDK for Autopilot workers: it turns a few phase handlers into a
// gRPC worker the Autopilot scheduler calls (the contract is autopilot.worker.v1, generated into
// the workerv1 package).
//
// A worker registers one handler per phase and serves:
//
//	func main() {
//		w := autopilot.NewWorker[model.Spec, model.StatusInfo]("canary-worker").
//			Phase("Initializing", phases.Initializing).
//			Phase("Analyzing", phases.Analyzing)
//		if err := w.ServeFromEnv(); err != nil {
//			log.Fatal(err)
//		}
//	}
//
// A handler is a plain function of a [Context] returning an [Outcome] or an error:
//
//	func Analyzing(ctx *autopilot.Context[model.Spec, model.StatusInfo]) (*autopilot.Outcome, error) {
//		rate, err := ctx.Metric("success-rate")
//		...
//		return autopilot.Next("Promoting"), nil
//	}
//
// Handlers are tested without gRPC by building a Context with [NewTestContext]. Errors map to the
// contract's gRPC codes: see [Retryable], [Permanent] and [Invalid]. Kubernetes objects to apply
// can be built with the outputs package.
package autopilot
