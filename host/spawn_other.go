//go:build !linux

package host

import (
	"os/exec"

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
