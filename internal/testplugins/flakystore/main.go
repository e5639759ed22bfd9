// Command kinesis-checkpoint-flakystore is a test checkpoint store: the
// file store, whose "backend" is unavailable while a marker file exists.
//
//	config {
//	  path      = "/tmp/x/cp.db"    # the file store's path
//	  down_file = "/tmp/x/down"     # while this file exists, Configure, Get
//	                                # and Set answer sdk.Unavailable
//	  log_file  = "/tmp/x/cfg.log"  # optional: one line per Configure call
//	}
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"

	"github.com/kinesis-host/kinesis-host/checkpoint/file"
	"github.com/kinesis-host/kinesis-host/sdk"
)

type store struct {
	Path     string `json:"path"`
	DownFile string `json:"down_file"`
	LogFile  string `json:"log_file"`
	fs       *file.Store
}

func (s *store) down() error {
	if s.DownFile == "" {
		return nil
	}
	if _, err := os.Stat(s.DownFile); err == nil {
		return sdk.Unavailable(errors.New("backend unreachable (test: down_file exists)"))
	}
	return nil
}

func (s *store) Configure(ctx context.Context, cfg sdk.Config) error {
	if err := cfg.Decode(s); err != nil {
		return err
	}
	if s.Path == "" {
		return sdk.ConfigError("path", "is required")
	}
	if s.LogFile != "" {
		if f, err := os.OpenFile(s.LogFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
			_, _ = f.WriteString("configure\n")
			_ = f.Close()
		}
	}
	if err := s.down(); err != nil {
		return err
	}
	js, _ := json.Marshal(map[string]string{"path": s.Path})
	s.fs = file.New()
	return s.fs.Configure(ctx, sdk.Config{App: cfg.App, Name: cfg.Name, JSON: js, ValidateOnly: cfg.ValidateOnly})
}

func (s *store) Get(ctx context.Context, key sdk.CheckpointKey) (sdk.Checkpoint, bool, error) {
	if err := s.down(); err != nil {
		return sdk.Checkpoint{}, false, err
	}
	return s.fs.Get(ctx, key)
}

func (s *store) Set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	if err := s.down(); err != nil {
		return err
	}
	return s.fs.Set(ctx, key, cp)
}

func (s *store) Close(ctx context.Context) error {
	if s.fs == nil {
		return nil
	}
	return s.fs.Close(ctx)
}

func main() { sdk.ServeCheckpoint(&store{}) }
