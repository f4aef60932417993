package autopilot

import (
	"runtime/debug"
	"sort"
)

// ProtocolVersion is the version of autopilot.worker.v1 this SDK speaks.
const ProtocolVersion = "v1"

// Handler runs one phase for one resource.
type Handler[S, I any] func(ctx *Context[S, I]) (*Outcome, error)

// FinalizeHandler cleans up before a resource is deleted; it is called until it returns Done.
type FinalizeHandler[S, I any] func(ctx *Context[S, I]) (*Finalized, error)

// Worker is the registry of a worker's handlers: phase name → handler, and an optional finalize
// handler. S is the resource's spec type and I its statusInfo type.
type Worker[S, I any] struct {
	name     string
	version  string
	phases   map[string]Handler[S, I]
	finalize FinalizeHandler[S, I]
}

// NewWorker is an empty worker; name appears in the scheduler's logs, metrics and Events. Its
// version is the one Go recorded in the binary (see [BuildVersion]) until Version sets another.
func NewWorker[S, I any](name string) *Worker[S, I] {
	return &Worker[S, I]{name: name, version: BuildVersion(), phases: map[string]Handler[S, I]{}}
}

// BuildVersion is the version Go recorded in the running binary: the main module's version when
// it was built from a tagged module (go install example.com/worker@v1.2.0) or a pseudo-version
// from version control (v0.0.0-20260101120000-0123456789ab+dirty), else "devel-<commit>" from the
// VCS settings, else "devel".
func BuildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return versionOf(info)
}

func versionOf(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	revision, modified := "", ""
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if revision == "" {
		return "devel"
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	return "devel-" + revision + modified
}

// Version sets the worker's version, reported to the scheduler in Describe and in logs.
func (w *Worker[S, I]) Version(version string) *Worker[S, I] {
	w.version = version
	return w
}

// Phase registers the handler of phase (a name exactly as declared in autopilot.yaml); a second
// registration of the same phase replaces the first.
func (w *Worker[S, I]) Phase(phase string, handler Handler[S, I]) *Worker[S, I] {
	w.phases[phase] = handler
	return w
}

// Finalize registers the finalize handler; Describe then tells the scheduler the worker
// finalizes.
func (w *Worker[S, I]) Finalize(handler FinalizeHandler[S, I]) *Worker[S, I] {
	w.finalize = handler
	return w
}

// Name is the worker's name.
func (w *Worker[S, I]) Name() string { return w.name }

// Phases are the phases served, sorted.
func (w *Worker[S, I]) Phases() []string {
	out := make([]string, 0, len(w.phases))
	for p := range w.phases {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// HasFinalizer reports whether a finalize handler is registered.
func (w *Worker[S, I]) HasFinalizer() bool { return w.finalize != nil }
