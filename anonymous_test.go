package jwks_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/powersync-jwks/jwks"
)

func TestAnonymousIdentitiesAreTheirOwn(t *testing.T) {
	params := map[string]any{"anonymous": true}
	a := jwks.Anonymous(jwks.WithAnonymousParameters(params))
	params["anonymous"] = false // the caller's map is copied
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, err := a.Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
			require.NoError(t, err)
			assert.Equal(t, true, id.Parameters["anonymous"])
			id.Parameters["device"] = i // each Identity is the caller's to change
		}()
	}
	wg.Wait()
}

func TestAnonymousSubjectFuncNil(t *testing.T) {
	id, err := jwks.Anonymous(jwks.WithSubjectFunc(nil)).Authenticate(httptest.NewRequest(http.MethodGet, "/", nil))
	require.NoError(t, err)
	assert.Equal(t, jwks.AnonymousSubject, id.Subject, "a nil function keeps the default")
}
