package jwks_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/internal/testkit"
)

func TestJWKSHandler(t *testing.T) {
	signing, retired := testkit.Key(t, jwks.ES256), testkit.Key(t, jwks.RS256).PublicOnly()
	ks, err := jwks.NewKeySet(signing, retired)
	require.NoError(t, err)
	srv := httptest.NewServer(newJWKSHandler(t, ks))
	defer srv.Close()

	do := func(t *testing.T, method string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL, nil)
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		res.Body = io.NopCloser(strings.NewReader(string(body)))
		return res, body
	}

	t.Run("GET", func(t *testing.T) {
		res, body := do(t, http.MethodGet, http.Header{"Accept": {"application/json"}})
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Equal(t, string(ks.JWKS()), string(body))
		assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
		assert.Equal(t, ks.ETag(), res.Header.Get("ETag"))
		assert.Equal(t, "public, max-age=300", res.Header.Get("Cache-Control"))
		assert.Equal(t, "*", res.Header.Get("Access-Control-Allow-Origin"))
		assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
		assert.Equal(t, strconv.Itoa(len(body)), res.Header.Get("Content-Length"))
		assert.Equal(t, []string{signing.KeyID(), retired.KeyID()}, kids(jwksDoc(t, body)))
	})
	t.Run("HEAD", func(t *testing.T) {
		res, body := do(t, http.MethodHead, nil)
		require.Equal(t, http.StatusOK, res.StatusCode)
		assert.Empty(t, body)
		assert.Equal(t, strconv.Itoa(len(ks.JWKS())), res.Header.Get("Content-Length"))
		assert.Equal(t, ks.ETag(), res.Header.Get("ETag"))
	})

	for _, tc := range []struct {
		name        string
		ifNoneMatch []string
		want        int
	}{
		{"matching ETag", []string{ks.ETag()}, http.StatusNotModified},
		{"weak form of the ETag", []string{"W/" + ks.ETag()}, http.StatusNotModified},
		{"ETag in a list", []string{`"old", ` + ks.ETag()}, http.StatusNotModified},
		{"ETag in a second header", []string{`"old"`, ks.ETag()}, http.StatusNotModified},
		{"star", []string{"*"}, http.StatusNotModified},
		{"other ETag", []string{`"old"`}, http.StatusOK},
		{"unquoted ETag", []string{strings.Trim(ks.ETag(), `"`)}, http.StatusOK},
		{"empty", []string{""}, http.StatusOK},
	} {
		t.Run("If-None-Match "+tc.name, func(t *testing.T) {
			res, body := do(t, http.MethodGet, http.Header{"If-None-Match": tc.ifNoneMatch})
			require.Equal(t, tc.want, res.StatusCode)
			assert.Equal(t, ks.ETag(), res.Header.Get("ETag"))
			assert.Equal(t, "public, max-age=300", res.Header.Get("Cache-Control"))
			if tc.want == http.StatusNotModified {
				assert.Empty(t, body)
			} else {
				assert.Equal(t, string(ks.JWKS()), string(body))
			}
		})
	}

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			res, _ := do(t, method, nil)
			requireJSONError(t, res, http.StatusMethodNotAllowed, "method_not_allowed")
			assert.Equal(t, "GET, HEAD", res.Header.Get("Allow"))
			assert.Empty(t, res.Header.Get("ETag"))
		})
	}

	t.Run("after Replace", func(t *testing.T) {
		oldETag := ks.ETag()
		next := testkit.NewKey(t, jwks.EdDSA)
		require.NoError(t, ks.Replace(next, signing.PublicOnly()))
		res, body := do(t, http.MethodGet, http.Header{"If-None-Match": {oldETag}})
		require.Equal(t, http.StatusOK, res.StatusCode, "an old ETag gets the new document")
		assert.Equal(t, []string{next.KeyID(), signing.KeyID()}, kids(jwksDoc(t, body)))
		assert.NotEqual(t, oldETag, res.Header.Get("ETag"))
	})
}

func TestJWKSHandlerMaxAge(t *testing.T) {
	ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
	require.NoError(t, err)
	for _, tc := range []struct {
		maxAge time.Duration
		want   string
	}{
		{time.Minute, "public, max-age=60"},
		{90 * time.Second, "public, max-age=90"},
		{1500 * time.Millisecond, "public, max-age=1"},
		{0, "no-cache"},
		{500 * time.Millisecond, "no-cache"},
	} {
		rec := httptest.NewRecorder()
		newJWKSHandler(t, ks, jwks.WithMaxAge(tc.maxAge)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, tc.want, rec.Header().Get("Cache-Control"), tc.maxAge)
	}
}

func TestNewJWKSHandlerRefusesBadConfiguration(t *testing.T) {
	ks, err := jwks.NewKeySet(testkit.Key(t, jwks.ES256))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		ks   *jwks.KeySet
		opts []jwks.JWKSHandlerOption
		want string
	}{
		{"nil key set", nil, nil, "nil KeySet"},
		{"negative max age", ks, []jwks.JWKSHandlerOption{jwks.WithMaxAge(-time.Second)}, "negative JWKS max age"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h http.Handler
			var err error
			require.NotPanics(t, func() { h, err = jwks.NewJWKSHandler(tc.ks, tc.opts...) })
			require.ErrorContains(t, err, tc.want)
			assert.Nil(t, h)
		})
	}
}

// discardWriter is a ResponseWriter that keeps its header map between
// requests and throws the body away, so that a benchmark measures the handler
// and not a recorder.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func benchmarkHandler(b *testing.B, h http.Handler) {
	w := &discardWriter{header: make(http.Header)}
	req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	b.ReportAllocs()
	defer testkit.CPUPerOp(b)()
	for b.Loop() {
		clear(w.header)
		h.ServeHTTP(w, req)
	}
	if w.status != http.StatusOK && w.status != 0 {
		b.Fatalf("status %d", w.status)
	}
}

// BenchmarkJWKSHandler compares the JWKS handler with a handler that writes
// its answer as constant bytes and headers (scripts/constserver's, the
// baseline of the HTTP benchmark in scripts/loadbench).
func BenchmarkJWKSHandler(b *testing.B) {
	signing, err := jwks.GenerateKey(jwks.ES256)
	require.NoError(b, err)
	retired, err := jwks.GenerateKey(jwks.RS256)
	require.NoError(b, err)
	ks, err := jwks.NewKeySet(signing, retired.PublicOnly())
	require.NoError(b, err)
	lib := newJWKSHandler(b, ks)
	// The constant: the library's answer (status, headers, body) recorded
	// once and written back as scripts/constserver does.
	rec := httptest.NewRecorder()
	lib.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(b, http.StatusOK, rec.Code)
	header, doc := rec.Header().Clone(), rec.Body.Bytes()

	testkit.RunPair(b, "", [2]string{"library", "static"}, [2]func(*testing.B){
		func(b *testing.B) { benchmarkHandler(b, lib) },
		func(b *testing.B) {
			benchmarkHandler(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				h := w.Header()
				for k, v := range header {
					h[k] = v
				}
				w.WriteHeader(http.StatusOK)
				w.Write(doc)
			}))
		},
	})
}
