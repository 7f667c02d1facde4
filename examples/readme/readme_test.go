package readme

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// snippet is a ```go block of README.md.
type snippet struct {
	n    int // 1, 2, … in README order
	line int // the README line of the opening fence
	code string
}

// goSnippets returns the ```go blocks of a Markdown text; one left open
// runs to the end of the text, as Markdown renders it.
func goSnippets(md string) []snippet {
	var out []snippet
	var cur *snippet
	for i, l := range strings.Split(md, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(l) == "```go":
			cur = &snippet{n: len(out) + 1, line: i + 1}
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.code += l + "\n"
		}
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out
}

// firstDiff returns the first line, counted from 1, where a and b
// differ, with its text in each; n is 0 when they are equal.
func firstDiff(a, b string) (n int, lineA, lineB string) {
	as, bs := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < max(len(as), len(bs)); i++ {
		lineA, lineB = "", ""
		if i < len(as) {
			lineA = as[i]
		}
		if i < len(bs) {
			lineB = bs[i]
		}
		if lineA != lineB {
			return i + 1, lineA, lineB
		}
	}
	return 0, "", ""
}

var (
	goDirective = regexp.MustCompile(`(?m)^go \S+$`)
	testifyReq  = regexp.MustCompile(`(?m)^\s*github\.com/stretchr/testify (\S+)`)
	isTestFile  = regexp.MustCompile(`(?m)^(package \w+_test\b|func Test)`)
)

// TestREADMESnippetsBuild writes each ```go block of README.md into a
// module of its own that requires the library in this repository
// (replaced by its directory, the WebAuthn module too) and testify at the
// library's versions, then
// builds it: `go build` for a program, `go test` for a test file (package
// x_test or a func TestXxx), which also runs the test and must pass. The
// modules' go.sum go along, so nothing is downloaded that their own tests
// did not need. A snippet must also be gofmt-formatted.
func TestREADMESnippetsBuild(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	libMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	libSum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	keySum, err := os.ReadFile(filepath.Join(root, "webauthn", "go.sum"))
	require.NoError(t, err)
	libSum = append(libSum, keySum...)
	goLine := goDirective.Find(libMod)
	require.NotNil(t, goLine, "go directive in go.mod")
	testify := testifyReq.FindSubmatch(libMod)
	require.NotNil(t, testify, "testify in go.mod")
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command (go test puts it on PATH)")

	snippets := goSnippets(string(readme))
	require.NotEmpty(t, snippets, "README.md has ```go blocks")
	goMod := fmt.Sprintf("module example.com/readme\n\n%s\n\nrequire (\n\tgithub.com/identsphere/mfa v0.0.0\n\tgithub.com/stretchr/testify %s\n)\n\n"+
		"replace github.com/identsphere/mfa => %q\n\nreplace github.com/identsphere/mfa/webauthn => %q\n",
		goLine, testify[1], root, filepath.Join(root, "webauthn"))

	for _, s := range snippets {
		t.Run(fmt.Sprintf("snippet%d", s.n), func(t *testing.T) {
			t.Parallel()
			file, args := "main.go", []string{"build", "./..."}
			if isTestFile.MatchString(s.code) {
				file, args = "snippet_test.go", []string{"test", "-count=1", "-v", "./..."}
			}
			if formatted, err := format.Source([]byte(s.code)); err == nil {
				if n, have, want := firstDiff(s.code, string(formatted)); n > 0 {
					t.Errorf("README.md snippet %d (the ```go block at line %d) is not gofmt-formatted: README.md line %d is\n\t%q\ngofmt makes it\n\t%q", s.n, s.line, s.line+n, have, want)
				}
			}
			dir := t.TempDir()
			for name, content := range map[string][]byte{"go.mod": []byte(goMod), "go.sum": libSum, file: []byte(s.code)} {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), content, 0o644))
			}
			cmd := exec.Command(goBin, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("README.md snippet %d (the ```go block at line %d, pasted as %s) fails `go %s`: %v\n%s\n(line N of %s is README.md line %d+N)",
					s.n, s.line, file, strings.Join(args, " "), err, out, file, s.line)
			}
			if args[0] == "test" && !bytes.Contains(out, []byte("--- PASS: Test")) {
				t.Errorf("README.md snippet %d (line %d): `go test` ran no test:\n%s", s.n, s.line, out)
			}
		})
	}
}
