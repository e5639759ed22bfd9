package telemetry

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboard keeps docs/grafana-dashboard.json valid and in step
// with the metrics: every kinesis_host_* name its queries use is exported
// (and has the type the query assumes), and it imports with a Prometheus
// data source chosen at import time.
func TestGrafanaDashboard(t *testing.T) {
	src, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Inputs []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		Panels []struct {
			Type, Title string
			Datasource  struct{ UID string }
			Targets     []struct {
				Expr       string
				Datasource struct{ UID string }
			}
		}
	}
	if err := json.Unmarshal(src, &dash); err != nil {
		t.Fatalf("docs/grafana-dashboard.json is not valid JSON: %v", err)
	}
	if len(dash.Inputs) != 1 || dash.Inputs[0].Name != "DS_PROMETHEUS" || dash.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v, want one DS_PROMETHEUS Prometheus data source", dash.Inputs)
	}
	nameRE := regexp.MustCompile(`kinesis_host_[a-z_]+`)
	used := map[string]bool{}
	titles := map[string]bool{}
	for _, p := range dash.Panels {
		titles[p.Title] = true
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource %q, want ${DS_PROMETHEUS}", p.Title, p.Datasource.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q: a query's datasource is %q", p.Title, tg.Datasource.UID)
			}
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %s", p.Title, tg.Expr)
			}
			for _, name := range nameRE.FindAllString(tg.Expr, -1) {
				base, isBucket := strings.CutSuffix(name, "_bucket")
				f, ok := wantFamilies[base]
				if !ok {
					t.Errorf("panel %q uses %s, which is not exported", p.Title, name)
					continue
				}
				if isBucket && f.typ.String() != "HISTOGRAM" {
					t.Errorf("panel %q uses %s of a %v", p.Title, name, f.typ)
				}
				if strings.Contains(tg.Expr, "rate("+name) && f.typ.String() == "GAUGE" {
					t.Errorf("panel %q takes a rate of gauge %s", p.Title, name)
				}
				used[base] = true
			}
		}
	}
	for _, want := range []string{
		"kinesis_host_shard_lag_seconds", "kinesis_host_records_total", "kinesis_host_bytes_total",
		"kinesis_host_handler_duration_seconds", "kinesis_host_plugin_restarts_total", "kinesis_host_plugin_up",
		"kinesis_host_checkpoint_writes_total", "kinesis_host_leases_held",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}
