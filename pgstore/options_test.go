package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsRefused(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		name string
		opt  Option
		want string
	}{
		{"empty table", WithTable(""), "table name is empty"},
		{"digit first", WithTable("1ring"), "starts with a digit"},
		{"hyphen", WithTable("my-ring"), `'-'`},
		{"uppercase", WithTable("Ring"), `'R'`},
		{"injection", WithTable(`ring; DROP TABLE users`), `';'`},
		{"quoted", WithTable(`"ring"`), `'"'`},
		{"three parts", WithTable("a.b.c"), "table name has"},
		{"empty schema", WithTable(".ring"), "schema name is empty"},
		{"too long", WithTable(long), "longer than 63 bytes"},
		{"derived channel too long", WithTable(strings.Repeat("s", 30) + "." + strings.Repeat("t", 40)), "WithChannel"},
		{"bad channel", WithChannel("my channel"), "WithChannel"},
		{"empty ring", WithRing(""), "ring's name is empty"},
		{"ring with a newline", WithRing("a\nb"), "control character"},
		{"ring not UTF-8", WithRing("\xff"), "not UTF-8"},
		{"ring too long", WithRing(strings.Repeat("r", 256)), "longer than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Checked before any connection: this port has no server.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := Open(ctx, "postgres://u@127.0.0.1:1/db", tt.opt)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), tt.want)
			assert.True(t, strings.HasPrefix(err.Error(), "pgstore: "), err.Error())
			assert.NotContains(t, err.Error(), "connect", "options are checked before connecting")

			_, err = New(ctx, nil, tt.opt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestOptionsAccepted(t *testing.T) {
	tests := []struct {
		opts                 []Option
		table, channel, ring string
	}{
		{nil, `"powersync_jwks_ring"`, "powersync_jwks_ring", "default"},
		{[]Option{WithTable("auth.keys_2")}, `"auth"."keys_2"`, "auth_keys_2", "default"},
		{[]Option{WithTable("_k"), WithChannel("ring_changes"), WithRing("billing: prod")}, `"_k"`, "ring_changes", "billing: prod"},
		{[]Option{WithTable(strings.Repeat("t", 63)), WithRing("ünïcode")}, `"` + strings.Repeat("t", 63) + `"`, strings.Repeat("t", 63), "ünïcode"},
	}
	for _, tt := range tests {
		c := defaultConfig()
		for _, o := range tt.opts {
			o(&c)
		}
		require.NoError(t, c.check())
		assert.Equal(t, tt.table, quoteIdentifier(c.table))
		assert.Equal(t, tt.channel, c.channel)
		assert.Equal(t, tt.ring, c.ring)
	}
}

func TestNewNeedsAPool(t *testing.T) {
	_, err := New(context.Background(), nil)
	require.EqualError(t, err, "pgstore: New needs a pool")
}

func TestForThisRing(t *testing.T) {
	s := &Store{ring: "a:b"}
	assert.True(t, s.forThisRing("a:b:7"))
	assert.False(t, s.forThisRing("a:7"))
	assert.False(t, s.forThisRing("default:7"))
	assert.True(t, s.forThisRing("no version"), "an unknown payload wakes the listener: a value may come without a change")
}
