// Package deploy_test checks the deployment files of this directory against
// the command they deploy: the systemd unit parses (with systemd-analyze
// when it is installed), asks for the hardening the README promises, and
// names only flags that cmd/powersync-auth has; the environment file names
// only variables the command reads; and the command, built statically as
// the README says, starts with both and stops cleanly on SIGTERM.
package deploy_test

import (
	"bufio"
	"debug/elf"
	"go/ast"
	"go/parser"
	"go/token"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks/internal/testkit"
)

const (
	unitFile = "powersync-auth.service"
	envFile  = "powersync-auth.env.example"
	// configSource declares the command's flags and their variables.
	configSource = "../cmd/powersync-auth/config.go"
)

// unit is a parsed systemd unit: the values of each key, by section.
type unit map[string]map[string][]string

func (u unit) get(section, key string) []string { return u[section][key] }

// readUnit parses a unit file as systemd does, for what this file uses:
// sections, key=value lines, comments, no line continuations.
func readUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			require.NotEmpty(t, section, "%s:%d: a key outside a section", path, n)
			require.False(t, strings.HasSuffix(line, `\`), "%s:%d: no line continuations", path, n)
			key, value, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s:%d: not key=value: %q", path, n, line)
			u[section][key] = append(u[section][key], value)
		}
	}
	require.NoError(t, sc.Err())
	return u
}

// commandSettings reads, from the command's source, its flags and the
// environment variables it reads: the keys and values of flagEnv, and the
// env* constants (the Edge Functions' variables, PORT).
func commandSettings(t *testing.T) (flags map[string]string, vars []string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), configSource, nil, 0)
	require.NoError(t, err)
	consts := map[string]string{}
	var flagEnv *ast.CompositeLit
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if i >= len(vs.Values) {
				continue
			}
			switch v := vs.Values[i].(type) {
			case *ast.BasicLit:
				if s, err := strconv.Unquote(v.Value); err == nil && strings.HasPrefix(name.Name, "env") {
					consts[name.Name] = s
				}
			case *ast.CompositeLit:
				if name.Name == "flagEnv" {
					flagEnv = v
				}
			}
		}
		return true
	})
	require.NotNil(t, flagEnv, "%s declares flagEnv", configSource)
	flags = map[string]string{}
	str := func(e ast.Expr) string {
		switch v := e.(type) {
		case *ast.BasicLit:
			s, err := strconv.Unquote(v.Value)
			require.NoError(t, err)
			return s
		case *ast.Ident:
			s, ok := consts[v.Name]
			require.True(t, ok, "constant %s", v.Name)
			return s
		}
		t.Fatalf("%s: unexpected expression in flagEnv", configSource)
		return ""
	}
	for _, elt := range flagEnv.Elts {
		kv := elt.(*ast.KeyValueExpr)
		flags[str(kv.Key)] = str(kv.Value)
	}
	require.Contains(t, flags, "listen", "the flags were read")
	for _, v := range flags {
		vars = append(vars, v)
	}
	for _, v := range consts {
		vars = append(vars, v)
	}
	slices.Sort(vars)
	return flags, slices.Compact(vars)
}

// execStart returns the binary and the arguments of the unit's ExecStart.
func execStart(t *testing.T, u unit) (string, []string) {
	t.Helper()
	exec := u.get("Service", "ExecStart")
	require.Len(t, exec, 1)
	fields := strings.Fields(exec[0])
	require.True(t, filepath.IsAbs(fields[0]), "ExecStart names the binary by its absolute path")
	return fields[0], fields[1:]
}

func TestUnit(t *testing.T) {
	u := readUnit(t, unitFile)
	for _, section := range []string{"Unit", "Service", "Install"} {
		require.Contains(t, u, section)
	}
	assert.Equal(t, []string{"multi-user.target"}, u.get("Install", "WantedBy"))
	assert.Equal(t, []string{"network-online.target"}, u.get("Unit", "After"))

	// The hardening the README promises.
	for key, want := range map[string]string{
		"DynamicUser":            "yes",
		"StateDirectory":         "powersync-auth",
		"StateDirectoryMode":     "0700",
		"UMask":                  "0077",
		"NoNewPrivileges":        "yes",
		"CapabilityBoundingSet":  "",
		"ProtectSystem":          "strict",
		"ProtectHome":            "yes",
		"PrivateTmp":             "yes",
		"PrivateDevices":         "yes",
		"RestrictSUIDSGID":       "yes",
		"MemoryDenyWriteExecute": "yes",
		"Restart":                "on-failure",
		"EnvironmentFile":        "/etc/powersync-auth/powersync-auth.env",
	} {
		assert.Equal(t, []string{want}, u.get("Service", key), key)
	}

	flags, _ := commandSettings(t)
	bin, args := execStart(t, u)
	assert.Equal(t, "/usr/local/bin/powersync-auth", bin)
	seen := map[string]string{}
	for i := 0; i < len(args); i += 2 {
		name, ok := strings.CutPrefix(args[i], "-")
		require.True(t, ok, "ExecStart: %q is not a flag", args[i])
		require.Contains(t, flags, name, "ExecStart: -%s is not a flag of powersync-auth (%s)", name, configSource)
		require.Less(t, i+1, len(args), "ExecStart: -%s has no value", name)
		seen[name] = args[i+1]
	}
	assert.Equal(t, "127.0.0.1:8090", seen["listen"], "loopback only: the proxy is in front")
	assert.Equal(t, "127.0.0.1,::1", seen["trusted-proxies"], "X-Forwarded-For is believed from the proxy on loopback")
	assert.Equal(t, "%S/powersync-auth/powersync-auth.key", seen["key-file"], "the key file is in the state directory")
}

func TestEnvFile(t *testing.T) {
	_, vars := commandSettings(t)
	env := readEnv(t, envFile)
	require.NotEmpty(t, env)
	for name := range env {
		assert.Contains(t, vars, name, "%s: the command does not read %s", envFile, name)
	}
	for _, name := range []string{"POWERSYNC_PRIVATE_KEY", "POWERSYNC_URL", "SUPABASE_URL", "SUPABASE_ANON_KEY"} {
		assert.Contains(t, env, name)
	}
	assert.Empty(t, env["POWERSYNC_PRIVATE_KEY"], "no key in an example")
}

// readEnv reads a systemd environment file of NAME=value lines.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	env := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		require.True(t, ok, "%s:%d: not NAME=value", path, n+1)
		require.NotContains(t, env, name, "%s:%d: %s twice", path, n+1, name)
		env[name] = value
	}
	return env
}

// buildStatic builds the command as the README's recipe does:
// CGO_ENABLED=0 go build -trimpath -o powersync-auth ./cmd/powersync-auth.
func buildStatic(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	bin := filepath.Join(t.TempDir(), "powersync-auth")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", bin, "./cmd/powersync-auth")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func TestStaticBuildRunsWithTheUnitAndEnvFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := buildStatic(t)

	f, err := elf.Open(bin)
	require.NoError(t, err)
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no dynamic loader")
	}
	f.Close()

	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		// The unit, pointed at the binary just built.
		data, err := os.ReadFile(unitFile)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), unitFile)
		require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/powersync-auth", bin)), 0o644))
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		require.NoError(t, err, "systemd-analyze verify: %s", out)
		assert.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify has something to say")
	} else {
		t.Log("systemd-analyze is not installed: the unit is checked by TestUnit only")
	}

	// The unit's arguments, on a free loopback port and with the key file
	// in a directory of the test's; the environment file's variables, less
	// SUPABASE_URL (no test reaches Supabase).
	_, args := execStart(t, readUnit(t, unitFile))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	stateDir := t.TempDir()
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "-listen":
			args[i+1] = addr
		case "-key-file":
			args[i+1] = strings.ReplaceAll(args[i+1], "%S", stateDir)
		}
	}
	require.NoError(t, os.Mkdir(filepath.Join(stateDir, "powersync-auth"), 0o700))
	env := []string{"PATH=" + os.Getenv("PATH")}
	for name, value := range readEnv(t, envFile) {
		if name == "SUPABASE_URL" {
			value = ""
		}
		env = append(env, name+"="+value)
	}
	logs := &testkit.LogBuffer{} // the command's output, copied in while it runs
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logs, logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("powersync-auth exited (%v):\n%s", err, logs.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "powersync-auth did not answer /healthz:\n%s", logs.String())
		time.Sleep(50 * time.Millisecond)
	}
	fi, err := os.Stat(filepath.Join(stateDir, "powersync-auth", "powersync-auth.key"))
	require.NoError(t, err, "the key file is made in the state directory")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-exited:
		require.NoError(t, err, "a clean exit on SIGTERM:\n%s", logs.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("powersync-auth did not stop on SIGTERM:\n%s", logs.String())
	}
	assert.Contains(t, logs.String(), `"level":"INFO"`, "-log-format json")
}
