package jwks_test

import (
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/supabasetest"
	"github.com/powersync-jwks/jwks/remote"
)

// Every command of the README's ```sh blocks is either run by
// TestREADMECommandsRun, in a fresh clone, with what it must do written in
// readmeRuns, or named in readmeNotRun with why it cannot run here.
// TestREADMECommandsClassified fails for a command in neither table (a
// command added to the README without a test) and for an entry that no
// command of the README matches any more (a stale table).
//
// A command is named by its text as the README shows it, with its lines
// joined where they end in a backslash and its comment dropped. One entry
// covers every place the README shows that same command.

// A readmeRun is what the test does with a command it runs, and what the
// command must do.
type readmeRun struct {
	// given, if set, runs first in the block's session: what the README
	// takes for granted at that point, or stands in for the placeholders of
	// the commands before it that cannot run here.
	given *readmeGiven
	// needs names the programs the command needs besides bash and go.
	needs   []string
	status  int                    // the exit status wanted
	stdout  []string               // regular expressions its standard output must match
	stderr  []string               // and its standard error
	files   map[string]fs.FileMode // files it must leave in the working directory, with their permissions
	check   func(t *testing.T, s *shSession, r shResult)
	server  *readmeServer // set for a server: run until it answers, checked, stopped
	timeout time.Duration // 3 minutes when zero
}

// A readmeGiven is what the test sets up in a block's session before a
// command.
type readmeGiven struct {
	why   string
	needs []string
	do    func(t *testing.T, s *shSession)
}

// A readmeServer is a command that runs until it is stopped: the test starts
// it, waits until GET /healthz answers 200, checks its JWKS (and its
// anonymous tokens against that JWKS), runs check, then sends the server
// SIGTERM and wants exit status 0.
type readmeServer struct {
	port      int    // where it listens, as written
	audience  string // of its tokens
	anonymous bool   // it serves /powersync-auth-anonymous
	check     func(t *testing.T, s *shSession, base string, keys []*jwks.Key)
}

// A readmeException is a command that cannot run here.
type readmeException struct {
	why string
	// holds, when set, checks that why is still true.
	holds func(t *testing.T)
}

// readmeRuns holds the commands that TestREADMECommandsRun runs.
var readmeRuns = map[string]readmeRun{
	// The first command of the README, exactly as written.
	"go run ./cmd/powersync-auth -anonymous": {
		server: &readmeServer{port: 8090, audience: "http://localhost:8080", anonymous: true,
			check: func(t *testing.T, s *shSession, _ string, keys []*jwks.Key) {
				wantMode(t, s, "powersync-auth.key", 0o600)
				if len(keys) != 1 || keys[0].Algorithm() != jwks.ES256 {
					t.Errorf("the README says one ES256 key; the JWKS holds %v", keys)
				}
			}},
	},

	"go install ./cmd/powersync-keygen ./cmd/powersync-token ./cmd/powersync-auth": {
		check: func(t *testing.T, s *shSession, _ shResult) {
			for _, name := range []string{"powersync-keygen", "powersync-token", "powersync-auth"} {
				info, err := os.Stat(filepath.Join(s.homeDir, "go", "bin", name))
				if err != nil || info.Mode()&0o100 == 0 {
					t.Errorf("no executable %s in $(go env GOPATH)/bin: %v", name, err)
				}
			}
		},
	},

	// Keys.
	"powersync-keygen": {
		stdout: []string{`(?m)^Public Key:$`, `"kty": "EC"`, `"alg": "ES256"`, `"kid": "powersync-[0-9a-f]{10}"`,
			`(?m)^supabase secrets set POWERSYNC_PUBLIC_KEY=\S+$`},
		check: func(t *testing.T, _ *shSession, r shResult) { wantSecret(t, r.stdout, jwks.ES256) },
	},
	"powersync-keygen -alg RS256": {
		stdout: []string{`"kty": "RSA"`, `"alg": "RS256"`, `(?m)^supabase secrets set POWERSYNC_PUBLIC_KEY=\S+$`},
		check:  func(t *testing.T, _ *shSession, r shResult) { wantSecret(t, r.stdout, jwks.RS256) },
	},
	"powersync-keygen -format env -out .env": {
		files: map[string]fs.FileMode{".env": 0o600},
		check: func(t *testing.T, s *shSession, _ shResult) {
			data, err := os.ReadFile(filepath.Join(s.dir, ".env"))
			if err != nil {
				t.Fatal(err)
			}
			wantSecret(t, string(data), jwks.ES256)
			if !regexp.MustCompile(`(?m)^POWERSYNC_PUBLIC_KEY=\S+$`).Match(data) {
				t.Errorf(".env holds no POWERSYNC_PUBLIC_KEY= line:\n%s", data)
			}
		},
	},
	"powersync-keygen -format json -out key.json": {
		files: map[string]fs.FileMode{"key.json": 0o600},
		check: func(t *testing.T, s *shSession, _ shResult) {
			if key := readKeyFile(t, s, "key.json"); !key.CanSign() {
				t.Error("key.json holds a public key, not the private JWK")
			}
		},
	},
	"powersync-keygen -format powersync-yaml -key key.json": {
		stdout: []string{`(?m)^client_auth:$`, `(?m)^  jwks:$`, `(?m)^  audience:$`},
		check: func(t *testing.T, s *shSession, r shResult) {
			key := readKeyFile(t, s, "key.json")
			if !strings.Contains(r.stdout, fmt.Sprintf("kid: %q", key.KeyID())) {
				t.Errorf("the client_auth block does not name key.json's kid %s", key.KeyID())
			}
			if strings.Contains(r.stdout, " d: ") {
				t.Error("the client_auth block holds the private key")
			}
		},
	},
	"powersync-keygen -format jwks -key key.json": {
		check: func(t *testing.T, s *shSession, r shResult) {
			keys := wantJWKS(t, []byte(r.stdout))
			if kid := readKeyFile(t, s, "key.json").KeyID(); len(keys) != 1 || keys[0].KeyID() != kid {
				t.Errorf("the JWKS holds %v, not key.json's key %s alone", keys, kid)
			}
		},
	},
	"powersync-keygen inspect key.json": {
		stdout: []string{`(?m)^alg:\s+ES256$`, `(?m)^key:\s+EC P-256$`, `(?m)^thumbprint:\s+\S+`, `(?m)^public JWK:$`, `-----BEGIN PUBLIC KEY-----`},
		check: func(t *testing.T, s *shSession, r shResult) {
			if kid := readKeyFile(t, s, "key.json").KeyID(); !strings.Contains(r.stdout, "kid:        "+kid) {
				t.Errorf("inspect does not name key.json's kid %s", kid)
			}
			if strings.Contains(r.stdout, "PRIVATE KEY") || strings.Contains(r.stdout, `"d"`) {
				t.Error("inspect printed the private half")
			}
		},
	},
	"powersync-keygen convert -to pem key.json": {
		stdout: []string{`(?m)^-----BEGIN PRIVATE KEY-----$`},
		stderr: []string{`PEM records neither the key ID nor the algorithm`},
		check: func(t *testing.T, s *shSession, r shResult) {
			pem, err := jwks.ParseKey([]byte(r.stdout))
			if err != nil {
				t.Fatalf("the PEM does not parse: %v", err)
			}
			if !pem.CanSign() || pem.Algorithm() != jwks.ES256 {
				t.Errorf("the PEM is not key.json's private ES256 key: %v", pem)
			}
			if !strings.Contains(r.stderr, readKeyFile(t, s, "key.json").KeyID()) {
				t.Error("standard error does not give back the kid the PEM lost")
			}
		},
	},

	// The ready server, with the environment the four exports before it
	// set.
	"powersync-auth -anonymous": {
		given: &readmeGiven{
			why: "the exports above, filled in: a POWERSYNC_PRIVATE_KEY and POWERSYNC_PUBLIC_KEY of the original example's kind (RS256, base64 of the JWK) from powersync-keygen, " +
				"a made-up instance URL (tokens name it; nothing fetches it), and for the Supabase project an in-process stand-in of Supabase Auth (internal/supabasetest) with its anon key",
			do: func(t *testing.T, s *shSession) {
				sb := supabasetest.New(t)
				s.data["supabase"] = sb
				s.sh(t, `powersync-keygen -alg RS256 -format env -out "$TMPDIR/functions.env" >/dev/null && set -a && . "$TMPDIR/functions.env" && set +a`)
				s.sh(t, fmt.Sprintf("export POWERSYNC_URL=https://abc123.powersync.journeyapps.com SUPABASE_URL=%s SUPABASE_ANON_KEY=%s",
					shQuote(sb.URL()), shQuote(sb.AnonKey())))
			},
		},
		server: &readmeServer{port: 8090, audience: "https://abc123.powersync.journeyapps.com", anonymous: true,
			check: func(t *testing.T, s *shSession, base string, keys []*jwks.Key) {
				secret, err := jwks.ParseKey([]byte(s.sh(t, `printf %s "$POWERSYNC_PRIVATE_KEY"`)))
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != 1 || keys[0].KeyID() != secret.KeyID() {
					t.Errorf("the JWKS holds %v, not POWERSYNC_PRIVATE_KEY's key %s alone", keys, secret.KeyID())
				}
				sb := s.data["supabase"].(*supabasetest.Server)
				user := sb.NewUser(supabasetest.Email("reader@example.com"))
				claims := wantToken(t, base+"/powersync-auth", sb.Token(user), "https://abc123.powersync.journeyapps.com", keys)
				if claims.Subject != user.ID {
					t.Errorf("the signed-in token's sub is %q, not the Supabase user's ID %q", claims.Subject, user.ID)
				}
			}},
	},
	"powersync-auth -anonymous -rotate-every 720h": {
		given: &readmeGiven{
			why: "the exports above, filled in: a throwaway PostgreSQL (scripts/postgres start) for db.internal, " +
				"a key-encryption key made as the comment says, and http://localhost:8080 for the instance",
			needs: []string{"initdb", "psql", "openssl"},
			do: func(t *testing.T, s *shSession) {
				s.sh(t, `pgdir=$(mktemp -d) && POWERSYNC_AUTH_STORE=$(scripts/postgres start "$pgdir") && export POWERSYNC_AUTH_STORE`)
				s.sh(t, `POWERSYNC_AUTH_KEY_ENCRYPTION_KEY=$(openssl rand -base64 32) && export POWERSYNC_AUTH_KEY_ENCRYPTION_KEY POWERSYNC_URL=http://localhost:8080`)
			},
		},
		server: &readmeServer{port: 8090, audience: "http://localhost:8080", anonymous: true,
			check: func(t *testing.T, s *shSession, _ string, _ []*jwks.Key) {
				_, stderr := s.jobOutput()
				for _, want := range []string{`msg="powersync-auth listening".* store="?postgres://postgres@127\.0\.0\.1:`, `rotate_every=720h0m0s`} {
					if !regexp.MustCompile(want).MatchString(stderr) {
						t.Errorf("the log does not match %s:\n%s", want, stderr)
					}
				}
				if strings.Contains(stderr, "stored in clear") {
					t.Errorf("the ring's keys are not sealed:\n%s", stderr)
				}
			}},
	},

	// Self-hosted Supabase, as written: http://kong:8000 does not resolve
	// here, so the server runs without Supabase, as it does while a compose
	// file's containers start. It serves the JWKS and says it is not ready,
	// and the issuer flag is taken (and any warned about).
	"SUPABASE_URL=http://kong:8000 powersync-auth -supabase-issuer https://supabase.example.com/auth/v1": {
		server: &readmeServer{port: 8090, audience: "http://localhost:8080",
			check: func(t *testing.T, s *shSession, base string, _ []*jwks.Key) {
				wantNotReady(t, base)
				if _, stderr := s.jobOutput(); strings.Contains(stderr, "any issuer") {
					t.Errorf("a named issuer is not any issuer:\n%s", stderr)
				}
			}},
	},
	"SUPABASE_URL=http://kong:8000 powersync-auth -supabase-issuer any": {
		server: &readmeServer{port: 8090, audience: "http://localhost:8080",
			check: func(t *testing.T, s *shSession, base string, _ []*jwks.Key) {
				wantNotReady(t, base)
				if _, stderr := s.jobOutput(); !regexp.MustCompile(`level=WARN msg="accepting Supabase access tokens of any issuer`).MatchString(stderr) {
					t.Errorf("no warning about accepting any issuer:\n%s", stderr)
				}
			}},
	},

	// A rotation by hand.
	"powersync-auth keys stage": {
		given: &readmeGiven{
			why: "the servers' environment the README runs these in: a key ring with an active key in the default key file, as the first start of a server leaves it, " +
				"and the shortest periods (1s each: a -publish-ahead of 3s) so that the promotion is allowed after a short wait",
			needs: []string{"jq"},
			do: func(t *testing.T, s *shSession) {
				s.sh(t, `export POWERSYNC_AUTH_STORE_POLL=1s POWERSYNC_AUTH_JWKS_MAX_AGE=1s POWERSYNC_AUTH_VERIFIER_REFRESH=1s`)
				s.sh(t, `powersync-keygen -format json -out "$TMPDIR/first.json" >/dev/null 2>&1 && powersync-auth keys import "$TMPDIR/first.json" >/dev/null`)
				s.sh(t, `first=$(powersync-auth keys list -json | jq -er '.[] | select(.state == "active") | .kid')`)
			},
		},
		stdout: []string{`^staged key powersync-[0-9a-f]{10} \(ES256\) as a next key: published from now on; it may sign from \S+`},
	},
	"powersync-auth keys list": {
		stdout: []string{`(?m)^KID\s+ALG\s+STATE\s+CREATED\s+PUBLISHED\s+ACTIVATED\s+RETIRED\s+REVOKED$`,
			`(?m)^powersync-[0-9a-f]{10}\s+ES256\s+active\s`, `(?m)^powersync-[0-9a-f]{10}\s+ES256\s+next\s`},
	},
	"powersync-auth keys promote": {
		given: &readmeGiven{
			why:   "-publish-ahead has passed since the key was staged, as the comment says: the test waits until the key's promotable_at",
			needs: []string{"jq"},
			do: func(t *testing.T, s *shSession) {
				at := strings.TrimSpace(s.sh(t, `powersync-auth keys list -json | jq -er '.[] | select(.state == "next") | .promotable_at'`))
				when, err := time.Parse(time.RFC3339, at)
				if err != nil {
					t.Fatalf("promotable_at %q: %v", at, err)
				}
				time.Sleep(time.Until(when)) // no margin: waiting until the time printed is enough
			},
		},
		stdout: []string{`^promoted key powersync-[0-9a-f]{10}: it signs from now on`},
	},
	`powersync-auth keys list -json | jq -r '.[] | select(.state == "retired") | .kid'`: {
		needs: []string{"jq"},
		check: func(t *testing.T, s *shSession, r shResult) {
			if first := s.sh(t, `printf '%s\n' "$first"`); r.stdout != first {
				t.Errorf("printed %q, not the key that was active before the promotion, %q", r.stdout, first)
			}
		},
	},

	// Changing the key-encryption key.
	"new=$(openssl rand -base64 32)": {
		needs: []string{"openssl"},
		check: func(t *testing.T, s *shSession, _ shResult) {
			if kek, err := base64.StdEncoding.DecodeString(s.sh(t, `printf %s "$new"`)); err != nil || len(kek) != 32 {
				t.Errorf("$new is not base64 of 32 bytes: %d bytes, %v", len(kek), err)
			}
		},
	},
	"POWERSYNC_AUTH_KEY_ENCRYPTION_KEY=$new,$old powersync-auth keys rewrap": {
		given: &readmeGiven{
			why: "the servers' key ring, sealed with the key-encryption key they used before, $old (made as $new is made); " +
				"steps 1 and 2 are the replicas' configuration",
			needs: []string{"openssl"},
			do: func(t *testing.T, s *shSession) {
				s.sh(t, `old=$(openssl rand -base64 32) && POWERSYNC_AUTH_KEY_ENCRYPTION_KEY=$old powersync-auth keys stage >/dev/null`)
			},
		},
		stdout: []string{`^every private key of the ring is sealed with key-encryption key \S+ now`},
		check: func(t *testing.T, s *shSession, _ shResult) {
			s.sh(t, `POWERSYNC_AUTH_KEY_ENCRYPTION_KEY=$new powersync-auth keys list >/dev/null`)
			r, err := s.run(`POWERSYNC_AUTH_KEY_ENCRYPTION_KEY=$old powersync-auth keys list`, time.Minute)
			if err != nil || r.status != 1 {
				t.Errorf("the old key-encryption key alone still opens the ring: exit status %d, %v", r.status, err)
			}
		},
	},

	// The PostgreSQL tests' server.
	"dir=$(mktemp -d)": {
		check: func(t *testing.T, s *shSession, _ shResult) { s.sh(t, `[ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]`) },
	},
	`export POWERSYNC_JWKS_TEST_DATABASE_URL=$(scripts/postgres start "$dir")`: {
		needs: []string{"initdb", "psql"},
		check: func(t *testing.T, s *shSession, _ shResult) {
			url := s.sh(t, `printf %s "$POWERSYNC_JWKS_TEST_DATABASE_URL"`)
			if !regexp.MustCompile(`^postgres://postgres@127\.0\.0\.1:\d+/powersync_jwks_test\?sslmode=disable$`).MatchString(url) {
				t.Fatalf("POWERSYNC_JWKS_TEST_DATABASE_URL is %q", url)
			}
			if got := s.sh(t, `psql -X -At "$POWERSYNC_JWKS_TEST_DATABASE_URL" -c 'SELECT 1'`); got != "1\n" {
				t.Errorf("the database answers %q to SELECT 1", got)
			}
		},
	},
	`scripts/postgres stop "$dir"`: {
		check: func(t *testing.T, s *shSession, _ shResult) { s.sh(t, `[ ! -e "$dir/data/postmaster.pid" ]`) },
	},

	// Deploying it.
	"CGO_ENABLED=0 go build -trimpath -o powersync-auth ./cmd/powersync-auth": {
		timeout: 5 * time.Minute,
		files:   map[string]fs.FileMode{"powersync-auth": 0o755},
		check: func(t *testing.T, s *shSession, _ shResult) {
			f, err := elf.Open(filepath.Join(s.dir, "powersync-auth"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Error("the binary asks for a dynamic loader: it is not static")
				}
			}
			s.sh(t, `./powersync-auth -version >/dev/null`)
		},
	},
}

// readmeNotRun holds the commands that cannot run here, with why.
var readmeNotRun = map[string]readmeException{
	"make test": {
		why:   "this is the suite itself (gofmt, go vet, go test -race over the three modules); CI runs it (.ci/run)",
		holds: func(t *testing.T) { wantLine(t, ".ci/run", "make test") },
	},
	"make bench": {
		why: "minutes of benchmarks (6 rounds of each against its standard-library floor), and no short form in the README: " +
			"a measurement, not a test",
	},

	"go get github.com/powersync-jwks/jwks": {
		why: "for the reader's own module, and it fetches this one from the Go module proxy: the tests reach no network",
	},
	"go install github.com/powersync-jwks/jwks/cmd/powersync-keygen@latest": {
		why: "fetches the published module from the Go module proxy: the tests reach no network (the clone's go install line is run)",
	},

	`go run ./cmd/powersync-token check -jwks https://auth.example.com/.well-known/jwks.json -audience https://abc123.powersync.journeyapps.com "$TOKEN"`: {
		why: "the reader's own JWKS URL, PowerSync instance and refused token ($TOKEN): the placeholders are the point " +
			"(cmd/powersync-token's tests run check against JWKS served on loopback)",
	},

	"export POWERSYNC_PRIVATE_KEY=…": {
		why: "… is the reader's own secret, the original example's POWERSYNC_PRIVATE_KEY (the test gives the command after it one of powersync-keygen's)",
	},
	"export POWERSYNC_URL=https://<id>.powersync.journeyapps.com": {
		why: "<id> is the reader's PowerSync instance (the test gives the command after it a URL of its own)",
	},
	"export SUPABASE_URL=https://<ref>.supabase.co": {
		why: "<ref> is the reader's Supabase project (the test gives the command after it a stand-in on loopback)",
	},
	"export SUPABASE_ANON_KEY=…": {
		why: "… is the reader's project's anon key (the test gives the command after it the stand-in's)",
	},
	"export POWERSYNC_AUTH_STORE='postgres://powersync_auth:…@db.internal:5432/app?sslmode=verify-full'": {
		why: "the reader's own database (the test gives the command after it a throwaway PostgreSQL)",
	},
	"export POWERSYNC_AUTH_KEY_ENCRYPTION_KEY=…": {
		why: "… is the replicas' shared key-encryption key, made once (the test gives the command after it one made as the comment says)",
	},
	"powersync-auth keys revoke powersync-0123456789": {
		why: "powersync-0123456789 stands for the kid of the reader's leaked key",
	},

	"go test -race ./pgstore/...": {
		why: "a part of the suite itself: make test runs go test -race on ./pgstore/..., and CI with PostgreSQL",
		holds: func(t *testing.T) {
			wantLine(t, "Makefile", "\tgo test -race ./... ./pgstore/... ./cmd/powersync-auth/...")
		},
	},

	"sudo install -m 0755 powersync-auth /usr/local/bin/powersync-auth":                             {why: readmeSystemWhy},
	"sudo install -d -m 0700 /etc/powersync-auth":                                                   {why: readmeSystemWhy},
	"sudo install -m 0600 deploy/powersync-auth.env.example /etc/powersync-auth/powersync-auth.env": {why: readmeSystemWhy},
	"sudoedit /etc/powersync-auth/powersync-auth.env":                                               {why: "opens an editor on a file of the machine's /etc: " + readmeSystemWhy},
	"sudo install -m 0644 deploy/powersync-auth.service /etc/systemd/system/powersync-auth.service": {why: readmeSystemWhy},
	"sudo systemctl daemon-reload && sudo systemctl enable --now powersync-auth":                    {why: readmeSystemWhy},
}

// readmeSystemWhy is why the deployment's steps after the build are not run.
const readmeSystemWhy = "installs into the machine itself (root, /usr/local/bin, /etc, a systemd service): " +
	"deploy/deploy_test.go checks the unit and the environment file against the command (with systemd-analyze verify where it is installed)"

// TestREADMECommandsClassified checks that every command of the README's
// shell blocks is in readmeRuns or in readmeNotRun, and that every entry of
// the two still matches a command of the README.
func TestREADMECommandsClassified(t *testing.T) {
	blocks := readmeShellBlocks(t)
	seen := map[string]bool{}
	for _, b := range blocks {
		for _, c := range b.commands {
			_, run := readmeRuns[c.text]
			_, notRun := readmeNotRun[c.text]
			switch {
			case run && notRun:
				t.Errorf("README.md:%d: %q is in both readmeRuns and readmeNotRun", c.line, c.text)
			case !run && !notRun:
				t.Errorf("README.md:%d: the command %q is not tested: give it an entry in readmeRuns "+
					"(readme_commands_test.go) saying what it must do, or in readmeNotRun saying why it cannot run here", c.line, c.text)
			}
			seen[c.text] = true
		}
	}
	for _, table := range []map[string]bool{readmeKeys(readmeRuns), readmeKeys(readmeNotRun)} {
		for text := range table {
			if !seen[text] {
				t.Errorf("readme_commands_test.go names %q, which no sh block of README.md shows any more: update or remove the entry", text)
			}
		}
	}
	for text, e := range readmeNotRun {
		if e.holds != nil {
			t.Run(text, e.holds)
		}
	}
}

// TestREADMECommandsRun runs the README's commands in a fresh clone of the
// tracked files, block by block, each block in one bash session of its own
// (HOME, TMPDIR and the environment clean; powersync-keygen, powersync-token
// and powersync-auth built once and on the PATH, as the README's Install
// section installs them), and checks what each command does against
// readmeRuns. The commands of readmeNotRun are logged, not run.
//
// Several commands listen on :8090 as written, so the blocks run one after
// the other, and a port taken by another process fails the test with a
// message that says so.
func TestREADMECommandsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the three commands and runs the README's commands in a clone (some 20 seconds): not with -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the README's commands are run by bash and their servers found through /proc: Linux only")
	}
	blocks := readmeShellBlocks(t)
	for _, prog := range []string{"bash", "git", "go"} {
		readmeNeed(t, prog)
	}

	// One clone for every block, in a directory others may enter (the
	// PostgreSQL server of scripts/postgres runs as the postgres user when
	// the tests run as root).
	base, err := os.MkdirTemp("", "readme-commands-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	clone, bin := filepath.Join(base, "clone"), filepath.Join(base, "bin")
	tracked, err := freshClone(".", clone)
	if err != nil {
		readmeUnavailable(t, fmt.Sprintf("cannot copy the tracked files (not a git checkout?): %v", err))
	}
	goEnv := readmeGoEnv(t)

	// The installed commands, built once.
	env := readmeEnv(goEnv, bin, filepath.Join(base, "home"), filepath.Join(base, "tmp"))
	mkdirs(t, bin, filepath.Join(base, "home"), filepath.Join(base, "tmp"))
	build := exec.Command("go", "install", "./cmd/powersync-keygen", "./cmd/powersync-token", "./cmd/powersync-auth")
	build.Dir, build.Env = clone, append(env, "GOBIN="+bin)
	begin := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the commands in the clone: %v\n%s\n(GOPROXY is off: a dependency missing from the module cache is an error; make test downloads them first)", err, out)
	}
	t.Logf("built powersync-keygen, powersync-token and powersync-auth in %v", time.Since(begin).Round(time.Millisecond))

	for i, b := range blocks {
		t.Run(fmt.Sprintf("line%d", b.line), func(t *testing.T) {
			runREADMEBlock(t, b, clone, tracked, goEnv, bin, filepath.Join(base, "blocks", fmt.Sprint(i)))
		})
	}
}

// runREADMEBlock runs one block's commands in a session of their own, in
// the clone reset to its tracked files.
func runREADMEBlock(t *testing.T, b shBlock, clone string, tracked map[string]bool, goEnv map[string]string, bin, dir string) {
	var runs int
	for _, c := range b.commands {
		if e, ok := readmeRuns[c.text]; ok {
			runs++
			for _, prog := range e.needs {
				readmeNeed(t, prog)
			}
			if e.given != nil {
				for _, prog := range e.given.needs {
					readmeNeed(t, prog)
				}
			}
		}
	}
	if runs == 0 {
		for _, c := range b.commands {
			t.Logf("README.md:%d: not run: %s: %s", c.line, c.text, readmeNotRun[c.text].why)
		}
		return
	}
	if err := resetClone(clone, tracked); err != nil {
		t.Fatal(err)
	}
	home, tmp, out := filepath.Join(dir, "home"), filepath.Join(dir, "tmp"), filepath.Join(dir, "out")
	mkdirs(t, home, tmp, out)
	s := newShSession(t, clone, tmp, out, readmeEnv(goEnv, bin, home, tmp))
	s.homeDir = home
	t.Cleanup(func() { stopStrayPostgres(t, clone, tmp) })

	for _, c := range b.commands {
		e, ok := readmeRuns[c.text]
		if !ok {
			t.Logf("README.md:%d: not run: %s: %s", c.line, c.text, readmeNotRun[c.text].why)
			continue
		}
		if e.given != nil {
			t.Logf("README.md:%d: given %s", c.line, e.given.why)
			e.given.do(t, s)
		}
		if e.server != nil {
			runREADMEServer(t, s, c, e.server)
			continue
		}
		timeout := e.timeout
		if timeout == 0 {
			timeout = 3 * time.Minute
		}
		r, err := s.run(c.text, timeout)
		if err != nil {
			t.Fatalf("README.md:%d: %s: %v", c.line, c.text, err)
		}
		t.Logf("README.md:%d: ran %s: exit status %d in %v", c.line, c.text, r.status, r.elapsed.Round(time.Millisecond))
		if r.status != e.status {
			t.Fatalf("README.md:%d: %s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", c.line, c.text, r.status, e.status, r.stdout, r.stderr)
		}
		for _, re := range e.stdout {
			if !regexp.MustCompile(re).MatchString(r.stdout) {
				t.Errorf("README.md:%d: %s: standard output does not match %s:\n%s", c.line, c.text, re, r.stdout)
			}
		}
		for _, re := range e.stderr {
			if !regexp.MustCompile(re).MatchString(r.stderr) {
				t.Errorf("README.md:%d: %s: standard error does not match %s:\n%s", c.line, c.text, re, r.stderr)
			}
		}
		for name, mode := range e.files {
			wantMode(t, s, name, mode)
		}
		if e.check != nil {
			e.check(t, s, r)
		}
		if t.Failed() {
			t.FailNow() // the next commands may need what this one should have done
		}
	}
}

// readmeServerStart bounds how long a server may take to answer: go run
// links the command first.
const readmeServerStart = 2 * time.Minute

// readmeClient asks the servers, with no proxy and no connection kept, so
// that a server's graceful shutdown waits for nothing of the test's.
var readmeClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// runREADMEServer starts a server command, waits until it answers, checks
// it, stops it with SIGTERM and wants it to exit 0.
func runREADMEServer(t *testing.T, s *shSession, c shCommand, srv *readmeServer) {
	t.Helper()
	where := fmt.Sprintf("README.md:%d: %s", c.line, c.text)
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", srv.port))
	if err != nil {
		t.Fatalf("%s: it listens on :%d as written, and that port is taken on this machine (%v): stop what holds it, then run the test again", where, srv.port, err)
	}
	_ = ln.Close()

	job, err := s.start(c.text)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	s.data["job"] = job
	stopped := false
	defer func() {
		if !stopped {
			_, _ = job.stop(syscall.SIGKILL, 10*time.Second)
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", srv.port)
	for deadline := time.Now().Add(readmeServerStart); ; time.Sleep(100 * time.Millisecond) {
		if status, body, err := readmeGet(base+"/healthz", ""); err == nil {
			if status != http.StatusOK || !jsonEqual(body, `{"status":"ok"}`) {
				t.Fatalf("%s: GET /healthz answered %d %s", where, status, body)
			}
			break
		}
		if !job.running() {
			r, err := job.stop(syscall.SIGKILL, 10*time.Second)
			stopped = true
			t.Fatalf("%s: exited (status %d, %v) before answering on :%d\nstdout:\n%s\nstderr:\n%s", where, r.status, err, srv.port, r.stdout, r.stderr)
		}
		if time.Now().After(deadline) {
			_, stderr := job.output()
			t.Fatalf("%s: no answer on :%d after %v\nstderr:\n%s", where, srv.port, readmeServerStart, stderr)
		}
	}
	t.Logf("%s: answering after %v", where, time.Since(job.begin).Round(time.Millisecond))

	// The JWKS, under both its names.
	status, doc, err := readmeGet(base+"/.well-known/jwks.json", "")
	if err != nil || status != http.StatusOK {
		t.Fatalf("%s: GET /.well-known/jwks.json: %d %v", where, status, err)
	}
	keys := wantJWKS(t, doc)
	if status, same, err := readmeGet(base+"/powersync-jwks", ""); err != nil || status != http.StatusOK || string(same) != string(doc) {
		t.Errorf("%s: GET /powersync-jwks: %d %v, not the same document", where, status, err)
	}
	if srv.anonymous {
		if claims := wantToken(t, base+"/powersync-auth-anonymous", "", srv.audience, keys); claims.Subject != "anonymous" {
			t.Errorf("%s: the anonymous token's sub is %q", where, claims.Subject)
		}
	}
	if srv.check != nil {
		srv.check(t, s, base, keys)
	}
	if !job.running() {
		// It answered, then exited: or another process answered on the port.
		r, _ := job.stop(syscall.SIGKILL, 10*time.Second)
		stopped = true
		t.Fatalf("%s: exited (status %d) while it was being checked\nstderr:\n%s", where, r.status, r.stderr)
	}

	r, err := job.stop(syscall.SIGTERM, 20*time.Second)
	stopped = true
	if err != nil {
		t.Fatalf("%s: after SIGTERM: %v", where, err)
	}
	t.Logf("%s: exit status %d after SIGTERM, %v after it started", where, r.status, r.elapsed.Round(time.Millisecond))
	if r.status != 0 {
		t.Errorf("%s: exit status %d after SIGTERM, want 0\nstderr:\n%s", where, r.status, r.stderr)
	}
}

// jobOutput returns what the session's server has written so far.
func (s *shSession) jobOutput() (stdout, stderr string) {
	return s.data["job"].(*shJob).output()
}

// readmeGet GETs url, with a bearer token if one is given.
func readmeGet(url, bearer string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := readmeClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// wantJWKS parses a JWKS document as PowerSync's verifiers read it: every
// key usable, none skipped.
func wantJWKS(t *testing.T, doc []byte) []*jwks.Key {
	t.Helper()
	keys, skipped, err := remote.ParseDocument(doc)
	if err != nil {
		t.Fatalf("not a JWKS: %v\n%s", err, doc)
	}
	if len(keys) == 0 || len(skipped) != 0 {
		t.Fatalf("the JWKS has %d usable keys and skips %v", len(keys), skipped)
	}
	return keys
}

// wantToken asks a token route for a token and checks the answer: 200, the
// shape the README gives, and a token that verifies against keys for
// audience. It returns the token's claims.
func wantToken(t *testing.T, url, bearer, audience string, keys []*jwks.Key) *jwks.Claims {
	t.Helper()
	status, body, err := readmeGet(url, bearer)
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, status, err, body)
	}
	var answer struct {
		Token        string    `json:"token"`
		PowerSyncURL string    `json:"powersync_url"`
		ExpiresAt    time.Time `json:"expires_at"`
		UserID       string    `json:"user_id"`
	}
	if err := json.Unmarshal(body, &answer); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
	ks, err := jwks.NewKeySet(nil, keys...)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := jwks.NewVerifier(ks, audience)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := verifier.Verify(t.Context(), answer.Token)
	if err != nil {
		t.Fatalf("GET %s: the token does not verify against the JWKS for audience %s: %v", url, audience, err)
	}
	if answer.PowerSyncURL != strings.TrimSuffix(audience, "/") || answer.UserID != claims.Subject || !answer.ExpiresAt.Equal(claims.ExpiresAt) {
		t.Errorf("GET %s: answered powersync_url %q, user_id %q, expires_at %v for a token of sub %q, exp %v",
			url, answer.PowerSyncURL, answer.UserID, answer.ExpiresAt, claims.Subject, claims.ExpiresAt)
	}
	return claims
}

// wantSecret checks that text holds a POWERSYNC_PRIVATE_KEY=… line (after
// "supabase secrets set " or alone) whose value is a private key of alg.
func wantSecret(t *testing.T, text string, alg jwks.Algorithm) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^(?:supabase secrets set )?POWERSYNC_PRIVATE_KEY=(\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no POWERSYNC_PRIVATE_KEY=… line in:\n%s", text)
	}
	key, err := jwks.ParseKey([]byte(m[1]))
	if err != nil {
		t.Fatalf("POWERSYNC_PRIVATE_KEY does not parse: %v", err)
	}
	if !key.CanSign() || key.Algorithm() != alg {
		t.Errorf("POWERSYNC_PRIVATE_KEY is %v, not a private %s key", key, alg)
	}
}

// readKeyFile parses a key file of the clone.
func readKeyFile(t *testing.T, s *shSession, name string) *jwks.Key {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwks.ParseKey(data)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return key
}

// wantMode checks that the clone holds the file name with permissions mode.
func wantMode(t *testing.T, s *shSession, name string, mode fs.FileMode) {
	t.Helper()
	info, err := os.Stat(filepath.Join(s.dir, name))
	if err != nil {
		t.Errorf("no file %s: %v", name, err)
		return
	}
	if info.Mode().Perm() != mode {
		t.Errorf("%s has mode %v, want %v", name, info.Mode().Perm(), mode)
	}
}

// wantLine checks that the file name of the repository has the line want.
func wantLine(t *testing.T, name, want string) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(data), "\n"), want) {
		t.Errorf("%s has no line %q any more: the reason given for not running the command may no longer hold", name, want)
	}
}

// jsonEqual reports whether a JSON document equals want, as values.
func jsonEqual(doc []byte, want string) bool {
	var a, b any
	return json.Unmarshal(doc, &a) == nil && json.Unmarshal([]byte(want), &b) == nil && fmt.Sprint(a) == fmt.Sprint(b)
}

// readmeShellBlocks returns the shell blocks of README.md.
func readmeShellBlocks(t *testing.T) []shBlock {
	t.Helper()
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := shBlocks(string(md))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	if len(blocks) == 0 {
		t.Fatal("README.md has no sh block: is the parser broken?")
	}
	return blocks
}

// readmeNeed skips the test when prog is not installed, or fails it under
// CI (CI set), as the interop and PostgreSQL tests do. initdb may also be
// in Debian's /usr/lib/postgresql/*/bin, where scripts/postgres finds it.
func readmeNeed(t *testing.T, prog string) {
	t.Helper()
	if _, err := exec.LookPath(prog); err == nil {
		return
	}
	if prog == "initdb" || prog == "psql" {
		if found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + prog); len(found) > 0 {
			return
		}
	}
	readmeUnavailable(t, fmt.Sprintf("%s is not installed: these README commands need it", prog))
}

// readmeUnavailable skips the test for why, or fails it under CI.
func readmeUnavailable(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why + " (under CI this is a failure, not a skip)")
	}
	t.Skip(why + "; not run (set CI to make this a failure)")
}

// readmeGoEnv returns the go command's settings that the clean environment
// keeps: the caches, so that the clone builds from the modules already
// downloaded.
func readmeGoEnv(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	f := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(f) != 3 {
		t.Fatalf("go env printed %q", out)
	}
	return map[string]string{"GOCACHE": f[0], "GOMODCACHE": f[1], "GOROOT": f[2]}
}

// readmeEnv is the clean environment the README's commands run in: a HOME
// and TMPDIR of their own, bin (the installed commands) and go first on the
// PATH, the go command's caches, and no network for it (GOPROXY=off).
// Nothing else of the test's environment is passed on: no POWERSYNC_*
// variable of the developer's, no CI.
func readmeEnv(goEnv map[string]string, bin, home, tmp string) []string {
	path := strings.Join([]string{bin, filepath.Join(goEnv["GOROOT"], "bin"), os.Getenv("PATH")}, string(os.PathListSeparator))
	return []string{
		"PATH=" + path, "HOME=" + home, "TMPDIR=" + tmp,
		"GOCACHE=" + goEnv["GOCACHE"], "GOMODCACHE=" + goEnv["GOMODCACHE"],
		"GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=",
	}
}

// mkdirs makes directories that the postgres user may enter.
func mkdirs(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// stopStrayPostgres stops the PostgreSQL servers that a block started under
// tmp (scripts/postgres start DIR puts one in DIR/data) and did not stop,
// because a command failed before the block's stop.
func stopStrayPostgres(t *testing.T, clone, tmp string) {
	pids, _ := filepath.Glob(filepath.Join(tmp, "*", "data", "postmaster.pid"))
	for _, pid := range pids {
		dir := filepath.Dir(filepath.Dir(pid))
		if out, err := exec.Command(filepath.Join(clone, "scripts", "postgres"), "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("stopping the PostgreSQL server in %s: %v: %s", dir, err, out)
		}
	}
}

// readmeKeys returns the keys of a map as a set.
func readmeKeys[V any](m map[string]V) map[string]bool {
	set := map[string]bool{}
	for k := range m {
		set[k] = true
	}
	return set
}

// wantNotReady checks that the server at base is alive but not ready,
// because Supabase's JWKS has not loaded.
func wantNotReady(t *testing.T, base string) {
	t.Helper()
	status, data, err := readmeGet(base+"/readyz", "")
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Error, Reason string }
	if err := json.Unmarshal(data, &body); err != nil {
		t.Fatalf("/readyz answered %d %q: %v", status, data, err)
	}
	if status != http.StatusServiceUnavailable || body.Error != "not_ready" || body.Reason != "supabase_jwks" {
		t.Errorf("/readyz answered %d %+v, not 503 not_ready supabase_jwks", status, body)
	}
}
