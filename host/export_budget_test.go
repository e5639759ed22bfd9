package host

import "github.com/kinesis-host/kinesis-host/host/membudget"

// Test hooks of the memory budget and the pooled page buffers.

// BudgetStats returns h's memory budget counters.
func BudgetStats(h *Host) membudget.Stats { return h.budget.Stats() }

// SetArenaPoison makes every recycled page buffer filled with a poison
// byte first (on) and returns a function that restores the setting.
func SetArenaPoison(on bool) (restore func()) {
	old := arenaPoison.Swap(on)
	return func() { arenaPoison.Store(old) }
}

// ArenaCounts returns how many page arenas were recycled to the pools and
// how many were dropped to the GC (an abandoned handler call) so far.
func ArenaCounts() (recycled, dropped int64) {
	return arenaCounts.recycled.Load(), arenaCounts.dropped.Load()
}
