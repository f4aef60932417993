package phases

import (
	"sync"
	"time"

	autopilot "autopilot.dev/sdk-go"

	"probe-worker/model"
)

// finalizeCalls counts Finalize calls per namespace/name.
var finalizeCalls = struct {
	sync.Mutex
	byResource map[string]int
}{byResource: map[string]int{}}

// Finalize answers "not yet" on the first call for a resource and "done" on every later one
// (SCENARIO.md, "Finalize").
func Finalize(ctx *model.Context) (*autopilot.Finalized, error) {
	key := ctx.Namespace() + "/" + ctx.Name()
	finalizeCalls.Lock()
	finalizeCalls.byResource[key]++
	calls := finalizeCalls.byResource[key]
	finalizeCalls.Unlock()
	if calls == 1 {
		return autopilot.NotYet().RequeueAfter(200 * time.Millisecond), nil
	}
	return autopilot.Done(), nil
}
