package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Config is a plugin's config {} block from config.hcl.
type Config struct {
	// App is the app name from config.hcl.
	App string
	// Name is the label of the handler or checkpoint block.
	Name string
	// JSON holds the block's attributes as a JSON object ({} when the block
	// is absent). env() calls are already evaluated.
	JSON []byte
	// ValidateOnly is true under `kinesis-host validate`: check the values
	// and that the backend answers (address, credentials, table shape), but
	// create or change nothing, and release every connection before
	// returning.
	ValidateOnly bool
}

// Decode unmarshals the block into v (a pointer to a struct with json
// tags). Unknown attributes and wrong types are reported as ConfigError
// naming the attribute, so the host shows its file and line.
func (c Config) Decode(v any) error {
	raw := c.JSON
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return ConfigError(te.Field, "must be of type %s, got a %s", jsonType(te.Type.Kind().String()), te.Value)
	}
	if msg := err.Error(); strings.HasPrefix(msg, `json: unknown field "`) {
		field := strings.TrimSuffix(strings.TrimPrefix(msg, `json: unknown field "`), `"`)
		return ConfigError(field, "is not a setting of this plugin; remove it or check its spelling")
	}
	return ConfigError("", "%v", err)
}

func jsonType(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "slice", kind == "array":
		return "list"
	case kind == "map", kind == "struct":
		return "object"
	}
	return kind
}
