package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedact(t *testing.T) {
	const pw = "p@ss word/&"
	cause := errors.New("saw " + pw + " and " + url.PathEscape(pw) + " and " + url.QueryEscape(pw))
	err := redact(cause, pw)
	assert.Equal(t, "saw xxxxx and xxxxx and xxxxx", err.Error())
	assert.ErrorIs(t, err, cause)
	assert.Nil(t, errors.Unwrap(err), "the chain does not lead to the password")
	wrapped := redact(fmt.Errorf("connecting with %s: %w", pw, context.DeadlineExceeded), pw)
	assert.ErrorIs(t, wrapped, context.DeadlineExceeded, "what the original wraps is still seen")
	assert.NotContains(t, fmt.Sprintf("%+v", wrapped), pw)

	plain := errors.New("nothing secret")
	assert.Same(t, plain, redact(plain, pw))
	assert.Same(t, plain, redact(plain, ""))
	assert.NoError(t, redact(nil, pw))
}

func TestPasswordOf(t *testing.T) {
	tests := map[string]string{
		"postgres://u:pw@h/db":              "pw",
		"postgres://u:p%40w@h:5432/db":      "p@w",
		"postgres://u:pw@h:bad/db":          "pw",
		"postgres://u:p%40w@h:bad/db?x=a@b": "p@w",
		"postgres://u@h/db":                 "",
		"host=h password=pw port=x":         "pw",
		"host=h password = 'p w' port=x":    "p w",
		"host=h port=x":                     "",
	}
	for conn, want := range tests {
		assert.Equal(t, want, passwordOf(conn), conn)
	}
}
