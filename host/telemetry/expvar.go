package telemetry

import (
	"encoding/json"
	"expvar"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The seed (harlow/kinesis-consumer) let users pass an expvar map, which
// its README names "counters", and counted "records" (and promised
// "checkpoints") in it; /debug/vars then showed
//
//	"counters": {"checkpoints": 3, "records": 13005}
//
// Metrics keeps that shape for the whole host and adds the same counters
// per stream:
//
//	"counters": {"checkpoints": 3, "records": 13005},
//	"streams":  {"orders": {"checkpoints": 3, "records": 13005}}
//
// These variables belong to a Metrics, not to the expvar package's global
// registry (expvar.Publish panics on a second registration, and each test
// and host has its own Metrics); the /debug/vars handler serves them next
// to the global ones (cmdline, memstats, and whatever else the process
// published).

// Names of the expvar variables a Metrics serves.
const (
	ExpvarCounters = "counters" // {"checkpoints": N, "records": N}, the seed's name and keys
	ExpvarStreams  = "streams"  // {"<stream>": {"checkpoints": N, "records": N}}
)

// streamVars are one stream's seed counters.
type streamVars struct {
	records, checkpoints atomic.Int64
}

// seedVars are the seed-compatible counters of every stream.
type seedVars struct {
	mu      sync.RWMutex
	streams map[string]*streamVars
}

func newSeedVars() *seedVars { return &seedVars{streams: map[string]*streamVars{}} }

// stream returns stream's counters, creating them on first use.
func (v *seedVars) stream(name string) *streamVars {
	v.mu.RLock()
	s := v.streams[name]
	v.mu.RUnlock()
	if s != nil {
		return s
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s = v.streams[name]; s == nil {
		s = &streamVars{}
		v.streams[name] = s
	}
	return s
}

// countersJSON renders the totals over every stream.
func (v *seedVars) countersJSON() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var rec, cp int64
	for _, s := range v.streams {
		rec += s.records.Load()
		cp += s.checkpoints.Load()
	}
	return `{"checkpoints": ` + strconv.FormatInt(cp, 10) + `, "records": ` + strconv.FormatInt(rec, 10) + `}`
}

// streamsJSON renders the per-stream counters, streams sorted by name.
func (v *seedVars) streamsJSON() string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	names := make([]string, 0, len(v.streams))
	for n := range v.streams {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		key, _ := json.Marshal(n)
		s := v.streams[n]
		b.Write(key)
		b.WriteString(`: {"checkpoints": ` + strconv.FormatInt(s.checkpoints.Load(), 10) +
			`, "records": ` + strconv.FormatInt(s.records.Load(), 10) + `}`)
	}
	b.WriteByte('}')
	return b.String()
}

// Expvar returns the seed-compatible counters as expvar variables, keyed
// by their names (ExpvarCounters, ExpvarStreams). Their String methods
// render the current values as JSON. Nil for a nil *Metrics.
func (m *Metrics) Expvar() map[string]expvar.Var {
	if m == nil {
		return nil
	}
	return map[string]expvar.Var{
		ExpvarCounters: expvar.Func(func() any { return json.RawMessage(m.vars.countersJSON()) }),
		ExpvarStreams:  expvar.Func(func() any { return json.RawMessage(m.vars.streamsJSON()) }),
	}
}

// varsHandler serves /debug/vars as package expvar does (a JSON object of
// every published variable, sorted by name), with m's variables added; a
// global variable with the same name as one of m's is left out.
func varsHandler(m *Metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vars := map[string]string{}
		expvar.Do(func(kv expvar.KeyValue) { vars[kv.Key] = kv.Value.String() })
		for k, v := range m.Expvar() {
			vars[k] = v.String()
		}
		names := make([]string, 0, len(vars))
		for k := range vars {
			names = append(names, k)
		}
		sort.Strings(names)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		var b strings.Builder
		b.WriteString("{\n")
		for i, k := range names {
			if i > 0 {
				b.WriteString(",\n")
			}
			key, _ := json.Marshal(k)
			b.Write(key)
			b.WriteString(": ")
			b.WriteString(vars[k])
		}
		b.WriteString("\n}\n")
		_, _ = w.Write([]byte(b.String()))
	})
}
