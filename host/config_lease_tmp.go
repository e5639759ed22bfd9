package host

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// LeaseConfig tunes multi-host shard leases (a checkpoint block's lease {}).
// TEMPORARY: replaced by the config helper's version.
type LeaseConfig struct {
	Duration      time.Duration
	RenewInterval time.Duration
	PollInterval  time.Duration
	WorkerID      string
	MaxShards     int
	Range         hcl.Range
}

func (b *PluginBlock) leaseConfig() LeaseConfig {
	return LeaseConfig{Duration: 10 * time.Second, RenewInterval: 10 * time.Second / 3, PollInterval: time.Second}
}
