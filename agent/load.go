package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// keyPos is where a key was set: a file and line, or a flag or env var.
type keyPos struct {
	source string
	line   int
}

func (p keyPos) String() string {
	if p.line > 0 {
		return fmt.Sprintf("%s:%d", p.source, p.line)
	}
	return p.source
}

// ConfigError is one problem with the configuration, naming where it is.
type ConfigError struct {
	// Where is FILE:LINE, a flag (-bind) or an env var (VIGIL_BIND).
	Where string
	// Key is the config key (hooks[0].timeout).
	Key string
	// Msg says what is wrong.
	Msg string
	// line is Where's line, for ordering and naming the key.
	line int
}

// Error implements error.
func (e *ConfigError) Error() string {
	switch {
	case e.Where != "" && e.Key != "":
		return fmt.Sprintf("%s: %s: %s", e.Where, e.Key, e.Msg)
	case e.Where != "":
		return fmt.Sprintf("%s: %s", e.Where, e.Msg)
	case e.Key != "":
		return fmt.Sprintf("%s: %s", e.Key, e.Msg)
	}
	return e.Msg
}

// ConfigErrors is every problem found in a configuration.
type ConfigErrors []*ConfigError

// Error implements error, one problem per line.
func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// UnmarshalYAML parses a duration string such as "60s" or "1m30s".
// A bad one is a *yaml.TypeError, so that the decoder goes on and reports
// the file's other problems too.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	bad := &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration: write it with a unit, like \"30s\"", n.Line, n.Value)}}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return bad
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return bad
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String returns the duration as Go prints it.
func (d Duration) String() string { return time.Duration(d).String() }

var (
	yamlUnknownField = regexp.MustCompile(`(?s)^line (\d+): field (.*) not found in type \S+$`)
	yamlLine         = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
)

// LoadFile reads a YAML config file over c: keys the file sets replace
// c's values (tags merge per key). Unknown keys and wrong types are errors
// naming the file, line and key.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return ConfigErrors{{Where: path, Msg: fmt.Sprintf("read config: %v", err)}}
	}
	return c.loadYAML(path, data)
}

func (c *Config) loadYAML(path string, data []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return ConfigErrors{yamlError(path, err)}
	}
	// Lists add up across files: a later file's join, hooks and checks
	// follow the earlier files' instead of replacing them.
	prevJoin, prevHooks, prevChecks := c.Join, c.Hooks, c.Checks
	c.Join, c.Hooks, c.Checks = nil, nil, nil
	defer func() {
		c.Join = append(prevJoin, c.Join...)
		c.Hooks = append(prevHooks, c.Hooks...)
		c.Checks = append(prevChecks, c.Checks...)
	}()
	offsets := map[string]int{"join": len(prevJoin), "hooks": len(prevHooks), "checks": len(prevChecks)}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// Every problem yaml found, each named by its key: the
			// decoder goes on past unknown keys, wrong types and bad
			// durations (which report themselves as type errors).
			var keys []keyValue
			if len(root.Content) > 0 {
				keys = keyValues("", root.Content[0], offsets, keys)
			}
			errs := make(ConfigErrors, 0, len(te.Errors))
			for _, msg := range te.Errors {
				ce := yamlMessage(path, msg)
				if k := keyOnLine(keys, ce.line, ce.Key, ce.Msg); k != "" {
					ce.Key = k
				}
				ce.Msg = plainTypeMessage(ce.Msg)
				errs = append(errs, ce)
			}
			return errs
		}
		return ConfigErrors{yamlError(path, err)}
	}
	if c.lines == nil {
		c.lines = map[string]keyPos{}
	}
	if len(root.Content) > 0 {
		recordLines(path, "", root.Content[0], c.lines, offsets)
	}
	return nil
}

func yamlError(path string, err error) *ConfigError {
	return yamlMessage(path, strings.TrimPrefix(err.Error(), "yaml: "))
}

func yamlMessage(path, msg string) *ConfigError {
	if m := yamlUnknownField.FindStringSubmatch(msg); m != nil {
		key := m[2]
		if key == "" {
			key = `""`
		}
		line, _ := strconv.Atoi(m[1])
		return &ConfigError{Where: path + ":" + m[1], Key: key, Msg: "unknown key", line: line}
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ConfigError{Where: path + ":" + m[1], Msg: m[2], line: line}
	}
	return &ConfigError{Where: path, Msg: msg}
}

// keyValue is a key path of a file, its line and its scalar value.
type keyValue struct {
	path, value string
	line        int
}

// keyValues lists the key paths under n with their lines and values.
func keyValues(prefix string, n *yaml.Node, offsets map[string]int, out []keyValue) []keyValue {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			path := n.Content[i].Value
			if prefix != "" {
				path = prefix + "." + path
			}
			v := n.Content[i+1]
			out = append(out, keyValue{path: path, value: v.Value, line: n.Content[i].Line})
			out = keyValues(path, v, offsets, out)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			path := prefix + "[" + strconv.Itoa(i+offsets[prefix]) + "]"
			out = append(out, keyValue{path: path, value: item.Value, line: item.Line})
			out = keyValues(path, item, offsets, out)
		}
	}
	return out
}

// keyOnLine names the key a message about line is about: of the keys
// written on that line, the unknown key name (when the message is about
// one), or the one whose value the message quotes (several share a line
// in a flow mapping: {name: web, port: x}), else the longest path (the
// innermost: checks[0].interval rather than checks[0]).
func keyOnLine(keys []keyValue, line int, name, msg string) string {
	best := ""
	for _, k := range keys {
		if k.line != line || line <= 0 {
			continue
		}
		if name != "" && (k.path == name || strings.HasSuffix(k.path, "."+name) || strings.HasSuffix(k.path, "]."+name)) {
			return k.path
		}
		if k.value != "" && (strings.Contains(msg, "`"+k.value+"`") || strings.Contains(msg, fmt.Sprintf("%q", k.value))) {
			return k.path
		}
		if len(k.path) > len(best) {
			best = k.path
		}
	}
	return best
}

// yamlTypeMismatch is yaml's message for a value of the wrong kind:
// "cannot unmarshal !!str `lots` into int".
var yamlTypeMismatch = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (.+)$")

// plainTypeMessage rewrites yaml's type mismatch in the words of the
// configuration ("want a whole number, got the string \"lots\""); other
// messages pass unchanged.
func plainTypeMessage(msg string) string {
	m := yamlTypeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	var got string
	switch {
	case m[1] == "str" && strings.HasSuffix(m[2], "..."):
		got = "a string" // yaml shortens long values
	case m[1] == "str":
		got = fmt.Sprintf("the string %q", m[2])
	case m[1] == "int", m[1] == "float":
		got = "the number " + m[2]
	case m[1] == "bool":
		got = m[2]
	case m[1] == "seq":
		got = "a list"
	case m[1] == "map":
		got = "a mapping (KEY: VALUE lines)"
	case m[1] == "null":
		got = "nothing"
	default:
		got = m[1] + " " + m[2]
	}
	want := "a " + m[3]
	switch into := m[3]; {
	case strings.HasPrefix(into, "[]"):
		want = "a list"
	case strings.HasPrefix(into, "map["):
		want = "a mapping (KEY: VALUE lines)"
	case strings.Contains(into, "int"):
		want = "a whole number"
	case strings.HasPrefix(into, "float"):
		want = "a number"
	case into == "bool":
		want = "true or false"
	case into == "string":
		want = "a string"
	case strings.Contains(into, "."):
		want = "a mapping (KEY: VALUE lines)"
	}
	return "want " + want + ", got " + got
}

// recordLines walks the YAML tree and notes the line of every key path.
// offsets shifts the indexes of top-level lists that follow an earlier
// file's entries.
func recordLines(source, prefix string, n *yaml.Node, lines map[string]keyPos, offsets map[string]int) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			path := k.Value
			if prefix != "" {
				path = prefix + "." + k.Value
			}
			lines[path] = keyPos{source: source, line: k.Line}
			recordLines(source, path, n.Content[i+1], lines, offsets)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			path := prefix + "[" + strconv.Itoa(i+offsets[prefix]) + "]"
			lines[path] = keyPos{source: source, line: item.Line}
			recordLines(source, path, item, lines, offsets)
		}
	}
}

// setBy notes that key was last set by source (a flag or env var).
func (c *Config) setBy(key, source string) {
	if c.lines == nil {
		c.lines = map[string]keyPos{}
	}
	c.lines[key] = keyPos{source: source}
}

// where returns where key was set, or "" when it is a default.
func (c *Config) where(key string) string {
	if p, ok := c.lines[key]; ok {
		return p.String()
	}
	return ""
}
