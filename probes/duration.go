package probes

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in YAML as a Go duration string such
// as "2s" or "1m30s". A bare number is refused: its unit would be a guess.
type Duration time.Duration

// String returns the duration as Go prints it ("1m30s").
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.Unmarshaler. The error names the node's
// line, and is a *yaml.TypeError so that the decoder goes on and reports
// the file's other problems too.
func (d *Duration) UnmarshalYAML(node *yaml.Node) error {
	if node.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration such as \"10s\"", node.Line)}}
	}
	v, err := time.ParseDuration(node.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: invalid duration %q: want a Go duration such as \"10s\" or \"1m30s\"", node.Line, node.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler: the Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }
