package main

import (
	"fmt"
	"os"
	"strings"
)

// expand replaces $NAME, ${NAME} and ${NAME:-default} with vars' values,
// as a Dockerfile does outside RUN.
func expand(s string, vars map[string]string) string {
	return os.Expand(s, func(key string) string {
		name, def, hasDef := strings.Cut(key, ":-")
		if v, ok := vars[name]; ok && (v != "" || !hasDef) {
			return v
		}
		return def
	})
}

// words splits s into words as a shell would for a Dockerfile's LABEL and
// ENV: spaces separate, double and single quotes group, and a backslash
// escapes the next character outside single quotes.
func words(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	runes := []rune(s)
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case quote == 0 && (r == ' ' || r == '\t'):
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == '\\' && quote != '\'':
			if i+1 == len(runes) {
				return nil, fmt.Errorf("a backslash ends %q", s)
			}
			i++
			cur.WriteRune(runes[i])
			inWord = true
		case quote == 0 && (r == '"' || r == '\''):
			quote, inWord = r, true
		case r == quote:
			quote = 0
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("a quote is not closed in %q", s)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// keyValueWords reads the key=value pairs of a LABEL or an ENV, values
// expanded with vars.
func keyValueWords(in instruction, vars map[string]string) ([][2]string, error) {
	ws, err := words(in.args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	var out [][2]string
	for _, w := range ws {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: want key=value pairs (got %q)", in, w)
		}
		out = append(out, [2]string{k, expand(v, vars)})
	}
	return out, nil
}
