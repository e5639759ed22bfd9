package lease

import (
	"sort"
	"strings"
	"time"
)

// StaleRows returns the rows with the given prefix that are unowned, or
// whose lease this host has seen still for at least age (sorted).
func (c *Core) StaleRows(now time.Duration, prefix string, age time.Duration) []string {
	var out []string
	for id, o := range c.rows {
		if strings.HasPrefix(id, prefix) && (o.owner == "" && o.counter > 0 || o.owner != "" && now-o.since >= age) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
