package host

import (
	"context"
	"errors"
)

// runEFO reads the shard with enhanced fan-out (SubscribeToShard) instead
// of polling. TODO(efo): implemented in this file.
func (w *shardWorker) runEFO(fetch, deliver context.Context, start iteratorPosition) shardResult {
	return shardResult{id: w.id, err: errors.New("consumer = \"efo\" is not implemented yet")}
}
