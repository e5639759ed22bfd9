//go:build !linux

package host

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	plugin "github.com/hashicorp/go-plugin"
)

// setParentDeathSignal is a no-op off Linux; sdk.Serve's parent watch makes
// orphaned plugins exit.
func setParentDeathSignal(cmd *exec.Cmd) {}

func spawn(cfg *plugin.ClientConfig) (*plugin.Client, error) {
	c := plugin.NewClient(cfg)
	_, err := c.Start()
	return c, err
}

// loadImage copies the plugin binary into a private 0700 directory owned by
// the host, hashing exactly the bytes it writes; every start executes that
// copy, so the sha256 pin holds at exec time.
func loadImage(path string) (*binImage, error) {
	src, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kinesis-host-plugin-")
	if err != nil {
		return nil, err
	}
	dst := filepath.Join(dir, filepath.Base(path))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o500)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &binImage{src: path, sum: hex.EncodeToString(h.Sum(nil)), id: statID(fi), copy: dst}, nil
}

func (im *binImage) command() *exec.Cmd {
	cmd := exec.Command(im.copy)
	cmd.Args[0] = im.src
	return cmd
}

func (im *binImage) close() {
	if im != nil && im.copy != "" {
		_ = os.RemoveAll(filepath.Dir(im.copy))
	}
}
