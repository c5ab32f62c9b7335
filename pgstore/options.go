package pgstore

import (
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultTable is the table a Store keeps its rings in unless WithTable
// names another.
const DefaultTable = "powersync_jwks_ring"

// DefaultRing is the name of the ring a Store keeps unless WithRing names
// another.
const DefaultRing = "default"

// maxRingLen bounds a ring's name, which travels in every notification
// (PostgreSQL limits a payload to 8000 bytes).
const maxRingLen = 255

// An Option configures New and Open.
type Option func(*config)

type config struct {
	table   string // as given: lowercase identifier, optionally schema-qualified
	ring    string
	channel string // "" until New derives it from the table
	logger  *slog.Logger
}

func defaultConfig() config {
	return config{table: DefaultTable, ring: DefaultRing, logger: slog.Default()}
}

// WithTable sets the table the ring is kept in (default DefaultTable). The
// name is a PostgreSQL identifier of lowercase ASCII letters, digits and
// underscores, at most 63 bytes, not starting with a digit, optionally
// qualified by a schema of the same form ("auth.powersync_jwks_ring"). The
// schema must exist; the table is made on first use if it does not. New
// refuses any other name.
func WithTable(name string) Option {
	return func(c *config) { c.table = name }
}

// WithRing sets the name of the ring, the table's row it is kept in
// (default DefaultRing), so that several services, each with its own ring,
// can share one table. A ring's name is 1 to 255 bytes of UTF-8 without
// control characters.
func WithRing(name string) Option {
	return func(c *config) { c.ring = name }
}

// WithChannel sets the channel of PostgreSQL's LISTEN/NOTIFY that a Store
// announces changes on and listens to. It is an identifier of the form
// WithTable takes, without a schema. It defaults to the table's name, with
// a schema's dot made an underscore ("auth_powersync_jwks_ring"). Every
// replica of a service must use the same channel; rings sharing a channel
// only wake each other's listeners for nothing.
func WithChannel(name string) Option {
	return func(c *config) { c.channel = name }
}

// WithLogger sets where a Store logs that its listener lost the database
// and found it again (default slog.Default(), which a nil logger also
// means). The ring's data is never logged.
func WithLogger(logger *slog.Logger) Option {
	return func(c *config) {
		if logger == nil {
			logger = slog.Default()
		}
		c.logger = logger
	}
}

// check fills in the defaults that depend on other options and refuses a
// configuration that cannot work.
func (c *config) check() error {
	schema, table, qualified := strings.Cut(c.table, ".")
	if !qualified {
		schema, table = "", c.table
	}
	if qualified {
		if err := checkIdentifier(schema); err != nil {
			return fmt.Errorf("pgstore: WithTable(%q): the schema %w", c.table, err)
		}
	}
	if err := checkIdentifier(table); err != nil {
		return fmt.Errorf("pgstore: WithTable(%q): the table %w", c.table, err)
	}
	if c.channel == "" {
		c.channel = strings.ReplaceAll(c.table, ".", "_")
		if len(c.channel) > maxIdentifierLen {
			return fmt.Errorf("pgstore: WithTable(%q): the channel named after it would be longer than %d bytes; name one with WithChannel", c.table, maxIdentifierLen)
		}
	} else if err := checkIdentifier(c.channel); err != nil {
		return fmt.Errorf("pgstore: WithChannel(%q): the channel %w", c.channel, err)
	}
	if err := checkRing(c.ring); err != nil {
		return fmt.Errorf("pgstore: WithRing(%q): %w", c.ring, err)
	}
	return nil
}

// maxIdentifierLen is PostgreSQL's NAMEDATALEN less one: longer names are
// cut short by the server, silently.
const maxIdentifierLen = 63

// checkIdentifier accepts the identifiers that mean the same quoted and
// unquoted, so that the DDL in the package documentation, typed by hand,
// names the very table the Store uses.
func checkIdentifier(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name is empty")
	case len(name) > maxIdentifierLen:
		return fmt.Errorf("name is longer than %d bytes", maxIdentifierLen)
	case name[0] >= '0' && name[0] <= '9':
		return fmt.Errorf("name starts with a digit")
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_') {
			return fmt.Errorf("name has %q: only lowercase ASCII letters, digits and underscores are allowed", rune(b))
		}
	}
	return nil
}

func checkRing(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the ring's name is empty")
	case len(name) > maxRingLen:
		return fmt.Errorf("the ring's name is longer than %d bytes", maxRingLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("the ring's name is not UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("the ring's name has the control character %U", r)
		}
	}
	return nil
}

// quoteIdentifier quotes a name checkIdentifier accepted, or a
// schema-qualified pair of them.
func quoteIdentifier(name string) string {
	parts := strings.Split(name, ".")
	for i, p := range parts {
		parts[i] = `"` + p + `"`
	}
	return strings.Join(parts, ".")
}
