package shared

import (
	plugin "github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the newest plugin protocol this build speaks. Host and
// plugin negotiate the highest version both support.
const ProtocolVersion = 1

// Plugin names inside a plugin set. A binary serves exactly one kind.
const (
	// HandlerPluginName is the name a record-handler plugin is dispensed by.
	HandlerPluginName = "handler"
	// CheckpointPluginName is the name a checkpoint-store plugin is dispensed by.
	CheckpointPluginName = "checkpoint"
)

// Handshake is the go-plugin handshake shared by the host and every plugin.
// The magic cookie is not security; it stops a user from running a plugin
// binary by hand and getting confusing output.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "KINESIS_HOST_PLUGIN",
	MagicCookieValue: "c4b0a1e6-kinesis-host-plugin-v1",
}

// HandlerPluginSets returns the versioned plugin sets for a handler plugin.
// impl is nil on the host side.
func HandlerPluginSets(impl HandlerServer) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {HandlerPluginName: &HandlerPlugin{Impl: impl}},
	}
}

// CheckpointPluginSets returns the versioned plugin sets for a checkpoint
// plugin. impl is nil on the host side.
func CheckpointPluginSets(impl CheckpointServer) map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {CheckpointPluginName: &CheckpointPlugin{Impl: impl}},
	}
}

// HostPluginSets is what the host offers when it starts any plugin: both
// kinds, so that a binary of the wrong kind is detected at Dispense time and
// reported by name instead of failing the handshake obscurely.
func HostPluginSets() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		1: {
			HandlerPluginName:    &HandlerPlugin{},
			CheckpointPluginName: &CheckpointPlugin{},
		},
	}
}
