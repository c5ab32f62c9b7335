package jwks_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/remote"
	"github.com/powersync-jwks/jwks/supabase"
)

// The functions below hold the README's snippets that no Example can run
// as they are (they read the environment, or call the host's own code):
// compiling them is their test. TestREADMESnippets checks that every Go
// snippet of the README is in one of them or in an Example, line for line.
var _ = []any{readmeQuickStart, readmeServeJWKS, readmeSupabase, readmeOwnSignIn, readmeVerify, readmeRemote}

func readmeQuickStart() {
	key, err := jwks.ParseKey([]byte(os.Getenv("POWERSYNC_PRIVATE_KEY"))) // base64 JWK secret, JWK JSON or PEM
	if err != nil {
		log.Fatal(err) // the error names the problem, never the key
	}
	ks, err := jwks.NewKeySet(key)
	if err != nil {
		log.Fatal(err)
	}
	signer, err := jwks.NewSigner(ks, os.Getenv("POWERSYNC_URL")) // the audience PowerSync expects
	if err != nil {
		log.Fatal(err)
	}

	jwksHandler, err := jwks.NewJWKSHandler(ks) // PowerSync's "JWKS URI"
	if err != nil {
		log.Fatal(err)
	}
	tokenHandler, err := jwks.NewTokenHandler(signer, jwks.Anonymous()) // {"token", "powersync_url", …}
	if err != nil {
		log.Fatal(err) // configuration no request could be served with
	}
	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", jwksHandler)
	mux.Handle("/powersync-auth-anonymous", tokenHandler)
}

func readmeServeJWKS(current, previous *jwks.Key, mux *http.ServeMux) {
	// The current key signs; the previous one stays published, public half
	// only, until the last token it signed has expired.
	ks, err := jwks.NewKeySet(current, previous.PublicOnly())
	if err != nil {
		log.Fatal(err)
	}
	jwksHandler, err := jwks.NewJWKSHandler(ks, jwks.WithMaxAge(5*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("GET /.well-known/jwks.json", jwksHandler)
}

func readmeSupabase(ctx context.Context, signer *jwks.Signer, mux *http.ServeMux) {
	users, err := supabase.New(ctx, os.Getenv("SUPABASE_URL"),
		supabase.WithAPIKey(os.Getenv("SUPABASE_ANON_KEY")))
	if err != nil {
		log.Fatal(err) // a bad URL or option: Supabase is not asked yet
	}
	tokenHandler, err := jwks.NewTokenHandler(signer, users)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("/powersync-auth", tokenHandler)
}

// readmeUser and readmeSessions stand for the host's own sign-in.
type readmeUser struct{ ID, OrgID string }

type readmeSessions interface {
	Lookup(r *http.Request) (*readmeUser, error)
}

func readmeOwnSignIn(signer *jwks.Signer, mux *http.ServeMux, sessions readmeSessions) {
	users := jwks.AuthenticatorFunc(func(r *http.Request) (*jwks.Identity, error) {
		user, err := sessions.Lookup(r) // yours
		if err != nil {
			return nil, fmt.Errorf("%w: %v", jwks.ErrUnauthenticated, err) // → 401
		}
		return &jwks.Identity{
			Subject:    user.ID,                              // → "sub", token_parameters.user_id
			Parameters: map[string]any{"org_id": user.OrgID}, // → token_parameters.org_id
		}, nil
	})
	tokenHandler, err := jwks.NewTokenHandler(signer, users, jwks.WithCORS("https://app.example"))
	if err != nil {
		log.Fatal(err) // a CORS origin with a trailing slash, say
	}
	mux.Handle("/powersync-token", tokenHandler)
}

func readmeVerify(ctx context.Context, ks *jwks.KeySet, raw string, mux *http.ServeMux, api http.Handler) {
	verifier, err := jwks.NewVerifier(ks, os.Getenv("POWERSYNC_URL"))
	if err != nil {
		log.Fatal(err)
	}

	claims, err := verifier.Verify(ctx, raw)
	switch {
	case errors.Is(err, jwks.ErrExpired): // ask the client for a new token
	case errors.Is(err, jwks.ErrUnavailable): // the keys could not be fetched: try again later
	case err != nil: // refused
	default:
		log.Printf("a token for %s", claims.Subject)
	}

	// The host's own API, for the same users: "Authorization: Bearer <jwt>"
	// or PowerSync's "Token <jwt>", the claims in the request's context.
	mux.Handle("/api/", verifier.Middleware()(api))
}

func readmeRemote(ctx context.Context) *jwks.Verifier {
	keys, err := remote.New(ctx, "https://auth.example.com/.well-known/jwks.json")
	if err != nil {
		log.Fatal(err) // a bad URL or option: the server is not asked yet
	}
	verifier, err := jwks.NewVerifier(keys, os.Getenv("POWERSYNC_URL"))
	if err != nil {
		log.Fatal(err)
	}
	return verifier
}

// TestREADMESnippets checks that every Go snippet of README.md is, line for
// line, part of the body of a function of this package's tests: an Example,
// which runs, or one of the readme functions above, which compile.
func TestREADMESnippets(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	snippets := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(snippets) == 0 {
		t.Fatal("README.md has no Go snippets")
	}

	var bodies []string
	fset := token.NewFileSet()
	for _, name := range []string{"example_test.go", "readme_test.go"} {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			body := string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
			lines := strings.Split(body, "\n")
			for i, l := range lines {
				lines[i] = strings.TrimPrefix(l, "\t")
			}
			bodies = append(bodies, strings.Join(lines, "\n"))
		}
	}

	for _, m := range snippets {
		snippet := string(m[1])
		found := false
		for _, b := range bodies {
			if strings.Contains(b, snippet) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("README.md snippet is in no Example or readme function of example_test.go or readme_test.go:\n%s", snippet)
		}
	}
}
