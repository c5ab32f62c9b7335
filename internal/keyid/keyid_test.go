package keyid

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValid(t *testing.T) {
	for kid, want := range map[string]bool{
		"powersync-0123456789":           true,
		"ключ":                           true,
		strings.Repeat("k", MaxLength):   true,
		"":                               false,
		strings.Repeat("k", MaxLength+1): false,
		"a\x00b":                         false,
		"a\nb":                           false,
		"a\u0085b":                       false, // NEL, a C1 control
		"\xff":                           false,
	} {
		assert.Equal(t, want, Valid(kid), "%q", kid)
	}
	assert.Zero(t, testing.AllocsPerRun(100, func() { Valid("powersync-0123456789") }))
}
