package jwks_test

// The machinery of TestREADMECommandsRun (readme_commands_test.go): the
// README's shell blocks split into commands, a fresh clone of the tracked
// files, and a bash session per block that runs the commands one at a time
// and hands back each one's exit status and output.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks/internal/testkit"
)

// shLanguages are the info strings of the fenced blocks whose lines are
// commands.
var shLanguages = map[string]bool{"sh": true, "bash": true, "shell": true}

// An shBlock is one ```sh block of the README.
type shBlock struct {
	line     int // of its opening fence, 1-based
	commands []shCommand
}

// An shCommand is one command of a block, as the test runs it and as the
// tables of readme_commands_test.go name it: its lines joined where they end
// in a backslash, its comment dropped, its surrounding blanks trimmed.
type shCommand struct {
	line int // where it starts in the README, 1-based
	text string
}

// shBlocks returns the shell blocks of a Markdown document, in order.
func shBlocks(md string) ([]shBlock, error) {
	lines := strings.Split(md, "\n")
	var blocks []shBlock
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimLeft(lines[i], " \t")
		if !strings.HasPrefix(trimmed, "```") {
			continue
		}
		fence := trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, "`"))]
		info := strings.Fields(strings.TrimPrefix(trimmed, fence))
		start := i
		var body []string
		for i++; i < len(lines); i++ {
			if t := strings.TrimSpace(lines[i]); strings.HasPrefix(t, fence) && strings.Trim(t, "`") == "" {
				break
			}
			body = append(body, lines[i])
		}
		if i == len(lines) {
			return nil, fmt.Errorf("line %d: the fenced block never ends", start+1)
		}
		if len(info) == 0 || !shLanguages[info[0]] {
			continue
		}
		cmds, err := shSplit(body, start+2)
		if err != nil {
			return nil, err
		}
		blocks = append(blocks, shBlock{line: start + 1, commands: cmds})
	}
	return blocks, nil
}

// shSplit splits the lines of a block, the first of which is line first of
// the README, into commands: comment lines and blank lines are dropped, a
// line ending in a backslash continues on the next, and so does a quoted
// string left open.
func shSplit(lines []string, first int) ([]shCommand, error) {
	var (
		cmds  []shCommand
		cur   strings.Builder
		start int
		quote byte
		space bool // the continued line ended in a blank
		cont  bool // the previous line asked for a continuation
	)
	for i, line := range lines {
		if cur.Len() == 0 && !cont && quote == 0 {
			line = strings.TrimLeft(line, " \t")
			start = first + i
		} else if cont {
			// A continuation line: one blank where either side had some.
			if trimmed := strings.TrimLeft(line, " \t"); space || len(trimmed) < len(line) {
				line = " " + trimmed
			}
		}
		code, c, q, err := shScan(line, quote)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", first+i, err)
		}
		cont, quote = c, q
		switch {
		case cont:
			space = strings.TrimRight(code, " \t") != code
			cur.WriteString(strings.TrimRight(code, " \t"))
		case quote != 0:
			cur.WriteString(code)
			cur.WriteByte('\n')
		default:
			cur.WriteString(strings.TrimRight(code, " \t"))
			if text := strings.TrimSpace(cur.String()); text != "" {
				cmds = append(cmds, shCommand{line: start, text: text})
			}
			cur.Reset()
		}
	}
	if cont || quote != 0 {
		return nil, fmt.Errorf("line %d: the command never ends (a trailing backslash or an open quote)", start)
	}
	return cmds, nil
}

// shScan reads one line of shell, starting inside the quote given (0 for
// none), and returns the line without its comment, whether it ends in a
// continuation backslash, and the quote still open at its end. It knows
// what it needs to find comments: quotes, backslashes, and that # starts a
// comment only at the start of a word. Here-documents are refused: their
// lines are not commands.
func shScan(line string, quote byte) (code string, cont bool, open byte, err error) {
	for j := 0; j < len(line); j++ {
		c := line[j]
		switch quote {
		case '\'':
			if c == '\'' {
				quote = 0
			}
		case '"':
			switch {
			case c == '\\' && j == len(line)-1:
				return line[:j], true, quote, nil
			case c == '\\':
				j++
			case c == '"':
				quote = 0
			}
		default:
			switch {
			case c == '\\' && j == len(line)-1:
				return line[:j], true, 0, nil
			case c == '\\':
				j++
			case c == '\'' || c == '"':
				quote = c
			case c == '#' && (j == 0 || strings.IndexByte(" \t;&|(", line[j-1]) >= 0):
				return line[:j], false, 0, nil
			case c == '<' && strings.HasPrefix(line[j:], "<<") && !strings.HasPrefix(line[j:], "<<<"):
				return "", false, 0, errors.New("a here-document: the test runs a block line by line, so write it another way")
			}
		}
	}
	return line, false, quote, nil
}

// freshClone copies the files git tracks in the working tree (as they are
// now, edits included) from src to dst, as a fresh clone would hold them:
// no key file of an earlier run, no interop/node_modules, no binaries. It
// returns the set of paths copied, slash-separated.
func freshClone(src, dst string) (map[string]bool, error) {
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = src
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if exitErr, ok := err.(*exec.ExitError); ok {
			stderr = exitErr.Stderr
		}
		return nil, fmt.Errorf("git ls-files: %v: %s", err, bytes.TrimSpace(stderr))
	}
	tracked := map[string]bool{}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		from := filepath.Join(src, filepath.FromSlash(name))
		to := filepath.Join(dst, filepath.FromSlash(name))
		info, err := os.Lstat(from)
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree, not yet in the index
		}
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return nil, err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(from)
			if err != nil {
				return nil, err
			}
			if err := os.Symlink(target, to); err != nil {
				return nil, err
			}
		case info.Mode().IsRegular():
			data, err := os.ReadFile(from)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(to, data, info.Mode().Perm()); err != nil {
				return nil, err
			}
		default:
			continue // a submodule's directory
		}
		tracked[name] = true
	}
	if len(tracked) == 0 {
		return nil, errors.New("git ls-files lists no file")
	}
	return tracked, nil
}

// resetClone removes from the clone in dir every file and directory that
// is not tracked, so that each block starts from a fresh clone again.
func resetClone(dir string, tracked map[string]bool) error {
	keepDirs := map[string]bool{".": true}
	for name := range tracked {
		for d := pathDir(name); !keepDirs[d]; d = pathDir(d) {
			keepDirs[d] = true
		}
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir() && keepDirs[rel]:
			return nil
		case !d.IsDir() && tracked[rel]:
			return nil
		}
		if err := os.RemoveAll(path); err != nil {
			return err
		}
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
}

// pathDir is path.Dir for the slash-separated names of git.
func pathDir(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return "."
}

// An shResult is what one command did.
type shResult struct {
	status         int
	stdout, stderr string
	elapsed        time.Duration
}

// An shSession is one bash process that runs a block's commands in order,
// so that an export or a variable of one command is seen by the next. Each
// command's standard input is /dev/null; its standard output and error go
// to files of the session's own. bash's own standard output carries only
// the session's markers.
type shSession struct {
	dir     string // the clone: the commands' working directory
	tmp     string // TMPDIR
	homeDir string // HOME
	outDir  string // the commands' output files
	marker  string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string        // bash's standard output, line by line
	stderr  *testkit.LogBuffer // bash's own standard error
	n       int
	data    map[string]any // what a given hands to a check
}

// newShSession starts bash in dir with env, in a process group of its own
// so that whatever the commands leave running can be killed at the end.
func newShSession(t *testing.T, dir, tmp, outDir string, env []string) *shSession {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := &shSession{
		dir: dir, tmp: tmp, outDir: outDir,
		marker: "__readme_" + hex.EncodeToString(b[:]),
		lines:  make(chan string, 16),
		stderr: &testkit.LogBuffer{},
		data:   map[string]any{},
	}
	s.cmd = exec.Command("bash", "--noprofile", "--norc")
	s.cmd.Dir, s.cmd.Env, s.cmd.Stderr = dir, env, s.stderr
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting bash: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(s.close)
	return s
}

// close ends the session and kills what is left of its process group.
func (s *shSession) close() {
	_, _ = io.WriteString(s.stdin, "exit 0\n")
	_ = s.stdin.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// send writes a script to bash and waits up to timeout for the line that
// starts with the marker, returning the rest of that line.
func (s *shSession) send(script string, timeout time.Duration) (string, error) {
	if _, err := io.WriteString(s.stdin, script); err != nil {
		return "", fmt.Errorf("the session's bash is gone (%v); its stderr: %s", err, s.stderr.String())
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return "", fmt.Errorf("the session's bash exited (a command ran exit?); its stderr: %s", s.stderr.String())
			}
			if rest, found := strings.CutPrefix(line, s.marker+" "); found {
				return rest, nil
			}
		case <-timer.C:
			return "", fmt.Errorf("still running after %v", timeout)
		}
	}
}

// next names the output files of the session's next command.
func (s *shSession) next() (stdout, stderr string) {
	s.n++
	return filepath.Join(s.outDir, fmt.Sprintf("%03d.out", s.n)), filepath.Join(s.outDir, fmt.Sprintf("%03d.err", s.n))
}

// run runs text in the session's shell (so that what it exports or assigns
// stays for the next command) and waits for it, up to timeout.
func (s *shSession) run(text string, timeout time.Duration) (shResult, error) {
	stdout, stderr := s.next()
	begin := time.Now()
	rest, err := s.send(fmt.Sprintf("{ %s\n} </dev/null >%s 2>%s\nprintf '%%s %%d\\n' %s \"$?\"\n",
		text, shQuote(stdout), shQuote(stderr), s.marker), timeout)
	if err != nil {
		return shResult{}, err
	}
	return s.result(rest, stdout, stderr, time.Since(begin))
}

// sh runs a script of the test's own in the session and fails t unless it
// exits 0. It returns the script's standard output.
func (s *shSession) sh(t *testing.T, script string) string {
	t.Helper()
	r, err := s.run(script, 2*time.Minute)
	if err != nil {
		t.Fatalf("the test's script %q: %v", script, err)
	}
	if r.status != 0 {
		t.Fatalf("the test's script %q: exit status %d\nstdout: %s\nstderr: %s", script, r.status, r.stdout, r.stderr)
	}
	return r.stdout
}

// result reads what a command left in its output files.
func (s *shSession) result(status, stdout, stderr string, elapsed time.Duration) (shResult, error) {
	code, err := strconv.Atoi(strings.TrimSpace(status))
	if err != nil {
		return shResult{}, fmt.Errorf("the session's marker line ends in %q, not an exit status", status)
	}
	out, err := os.ReadFile(stdout)
	if err != nil {
		return shResult{}, err
	}
	errOut, err := os.ReadFile(stderr)
	if err != nil {
		return shResult{}, err
	}
	return shResult{status: code, stdout: string(out), stderr: string(errOut), elapsed: elapsed}, nil
}

// An shJob is a command the session runs in the background: a server.
type shJob struct {
	s              *shSession
	pid            int // of the background job, bash's child
	stdout, stderr string
	begin          time.Time
}

// start runs text in the background, as a server is run in a terminal of
// its own.
func (s *shSession) start(text string) (*shJob, error) {
	stdout, stderr := s.next()
	j := &shJob{s: s, stdout: stdout, stderr: stderr, begin: time.Now()}
	rest, err := s.send(fmt.Sprintf("{ %s\n} </dev/null >%s 2>%s &\nprintf '%%s %%d\\n' %s \"$!\"\n",
		text, shQuote(stdout), shQuote(stderr), s.marker), 10*time.Second)
	if err != nil {
		return nil, err
	}
	if j.pid, err = strconv.Atoi(strings.TrimSpace(rest)); err != nil {
		return nil, fmt.Errorf("no job ID: %q", rest)
	}
	return j, nil
}

// running reports whether the job has not exited yet.
func (j *shJob) running() bool {
	st, err := procStat(j.pid)
	return err == nil && st.state != 'Z'
}

// output returns what the job has written so far.
func (j *shJob) output() (stdout, stderr string) {
	out, _ := os.ReadFile(j.stdout)
	errOut, _ := os.ReadFile(j.stderr)
	return string(out), string(errOut)
}

// stop sends sig to the job's leaves — the processes of its tree with no
// child: the server itself, whether bash runs it or go run does (go run
// leaves signals to its program, and exits with its status) — and waits up
// to timeout for the job's exit status.
func (j *shJob) stop(sig syscall.Signal, timeout time.Duration) (shResult, error) {
	if j.running() {
		for _, pid := range procLeaves(j.pid) {
			_ = syscall.Kill(pid, sig)
		}
	}
	rest, err := j.s.send(fmt.Sprintf("wait %d\nprintf '%%s %%d\\n' %s \"$?\"\n", j.pid, j.s.marker), timeout)
	if err != nil {
		_ = syscall.Kill(-j.s.cmd.Process.Pid, syscall.SIGKILL)
		return shResult{}, err
	}
	return j.s.result(rest, j.stdout, j.stderr, time.Since(j.begin))
}

// shQuote quotes s for bash.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// procInfo is what the test reads of /proc/PID/stat.
type procInfo struct {
	state byte
	ppid  int
}

// procStat reads /proc/PID/stat (Linux).
func procStat(pid int) (procInfo, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procInfo{}, err
	}
	// pid (comm) state ppid …, where comm may hold blanks and parentheses.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return procInfo{}, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procInfo{}, err
	}
	return procInfo{state: f[0][0], ppid: ppid}, nil
}

// procLeaves returns the processes of the tree under root (root included)
// that have no child of their own.
func procLeaves(root int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := procStat(pid); err == nil && st.state != 'Z' {
			children[st.ppid] = append(children[st.ppid], pid)
		}
	}
	var leaves []int
	var walk func(int)
	walk = func(pid int) {
		if len(children[pid]) == 0 {
			leaves = append(leaves, pid)
		}
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(root)
	return leaves
}

// TestShSplit checks how the README's blocks are split into the commands
// that the tables of readme_commands_test.go name.
func TestShSplit(t *testing.T) {
	md := strings.Join([]string{
		"# Title",
		"```go",
		"x := 1 # not shell",
		"```",
		"```sh",
		"go run ./cmd/powersync-auth -anonymous   # a comment",
		"",
		"# a comment line",
		"go run ./cmd/powersync-token check -jwks https://x/jwks.json \\",
		"    -audience https://y \"$TOKEN\"",
		`jq -r '.[] | select(.state == "retired") | .kid'`,
		"echo a#b ${#x} '# quoted' \"# too\" # the comment",
		"echo 'one",
		"two'",
		"a=1; # after a semicolon",
		"```",
		"",
		"1. A step:",
		"",
		"   ```bash",
		"   make test",
		"   ```",
		"```",
		"not a command",
		"```",
	}, "\n")
	blocks, err := shBlocks(md)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int][]string{}
	for _, b := range blocks {
		for _, c := range b.commands {
			got[b.line] = append(got[b.line], fmt.Sprintf("%d: %s", c.line, c.text))
		}
	}
	want := map[int][]string{
		5: {
			"6: go run ./cmd/powersync-auth -anonymous",
			`9: go run ./cmd/powersync-token check -jwks https://x/jwks.json -audience https://y "$TOKEN"`,
			`11: jq -r '.[] | select(.state == "retired") | .kid'`,
			`12: echo a#b ${#x} '# quoted' "# too"`,
			"13: echo 'one\ntwo'",
			"15: a=1;",
		},
		20: {"21: make test"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%v\nwant\n%v", got, want)
	}

	for _, bad := range []string{
		"```sh\ncat <<EOF\nx\nEOF\n```", // a here-document
		"```sh\necho 'open\n```",        // an open quote
		"```sh\necho \\\n```",           // a continuation into the fence
		"```sh\necho never closed\n",    // no closing fence
	} {
		if _, err := shBlocks(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
