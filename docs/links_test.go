// Package docs holds the project's documents; its one test keeps them
// true to the tree: every relative link and every file path they name
// exists, and every make target they name is in the Makefile.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// documents are the README and every Markdown file here, from the root.
func documents(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	require.NoError(t, err)
	out := []string{"README.md"}
	for _, f := range files {
		out = append(out, filepath.Join("docs", f))
	}
	return out
}

var (
	// [text](target), not an image's alt text alone.
	mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// `code` spans.
	codeSpan = regexp.MustCompile("`([^`\n]+)`")
	// A path into the tree: a top-level folder of the repository, then
	// path characters.
	treePath = regexp.MustCompile(`^(?:\./)?([A-Za-z0-9_.-]+)/[A-Za-z0-9_./-]*$`)
	// A code span, with its leading context (the link form of a span is
	// a reference to another repository's file, not checked).
	linkedSpan = regexp.MustCompile("\\[`[^`\n]+`\\]\\(")
	// A fenced code block.
	fence = regexp.MustCompile("(?ms)^```[a-z]*\n(.*?)^```")
	// `make` and what follows it, up to the end of the command.
	makeCall = regexp.MustCompile(`(?:^|[\s(])make((?: +[A-Za-z0-9_.=/$()-]+)+)`)
	// A Makefile rule's targets.
	makeRule = regexp.MustCompile(`(?m)^([a-z][a-z0-9 -]*):(?:[^=]|$)`)
)

func TestRelativeLinksExist(t *testing.T) {
	root := ".."
	for _, doc := range documents(t) {
		b, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			p := filepath.Join(root, filepath.Dir(doc), target)
			_, err := os.Stat(p)
			assert.NoError(t, err, "%s links to %s", doc, m[1])
		}
	}
}

// A path in a code span that starts with one of the repository's
// top-level folders names a file or folder that exists. Paths with a
// placeholder (<profile>, *, {...}, …) are patterns, not checked.
func TestNamedPathsExist(t *testing.T) {
	root := ".."
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var top []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			top = append(top, e.Name())
		}
	}
	top = append(top, ".ci", ".data", ".bin")
	checked := 0
	for _, doc := range documents(t) {
		b, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		text := linkedSpan.ReplaceAllString(string(b), "[(")
		for _, m := range codeSpan.FindAllStringSubmatch(text, -1) {
			for _, word := range strings.Fields(m[1]) {
				word = strings.TrimRight(word, ".,;:)")
				p := treePath.FindStringSubmatch(word)
				if p == nil || !slices.Contains(top, p[1]) || strings.ContainsAny(word, "<>*{}…") || strings.Contains(word, "...") {
					continue
				}
				if p[1] == ".data" || p[1] == ".bin" {
					continue // made by the build and the runs, not in the tree
				}
				checked++
				path := strings.TrimPrefix(word, "./")
				if dir, sym, ok := strings.Cut(filepath.Base(path), "."); ok && sym != "" && dir != "" && sym[0] >= 'A' && sym[0] <= 'Z' {
					path = filepath.Join(filepath.Dir(path), dir) // internal/web.Instrument: a package's symbol
				}
				_, err := os.Stat(filepath.Join(root, path))
				assert.NoError(t, err, "%s names %s", doc, word)
			}
		}
	}
	t.Logf("%d paths checked", checked)
	assert.Greater(t, checked, 100, "the documents name many paths; the pattern still finds them")
}

func TestNamedMakeTargetsExist(t *testing.T) {
	root := ".."
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	var targets []string
	for _, m := range makeRule.FindAllStringSubmatch(string(mk), -1) {
		targets = append(targets, strings.Fields(m[1])...)
	}
	require.Contains(t, targets, "test")
	checked := 0
	for _, doc := range documents(t) {
		b, err := os.ReadFile(filepath.Join(root, doc))
		require.NoError(t, err)
		// Commands are in code: spans and fenced blocks.
		var code []string
		for _, m := range codeSpan.FindAllStringSubmatch(string(b), -1) {
			code = append(code, m[1])
		}
		for _, m := range fence.FindAllStringSubmatch(string(b), -1) {
			code = append(code, strings.Split(m[1], "\n")...)
		}
		for _, c := range code {
			for _, m := range makeCall.FindAllStringSubmatch(c, -1) {
				for _, arg := range strings.Fields(m[1]) {
					if strings.ContainsAny(arg, "=$()/.") || strings.HasPrefix(arg, "-") {
						continue // a variable, an option, a path
					}
					checked++
					assert.Contains(t, targets, arg, "%s names make %s", doc, arg)
				}
			}
		}
	}
	t.Logf("%d make targets checked", checked)
	assert.Greater(t, checked, 20)
}
