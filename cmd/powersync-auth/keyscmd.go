package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/powersync-jwks/jwks"
	"github.com/powersync-jwks/jwks/keyring"
)

// A keysCommand is a subcommand of "powersync-auth keys": an operation on
// the key ring the servers share.
type keysCommand struct {
	name     string
	args     string // the positional arguments, for the usage line
	flagsUse string // its own flags, for the list of subcommands
	summary  string // one line, for the list of subcommands
	about    string // more, for its -h
	minArgs  int
	maxArgs  int
	flags    func(fs *flag.FlagSet, o *keysOptions)
	run      func(k *keysRun) int
}

// keysOptions are the subcommands' own flags.
type keysOptions struct {
	json  bool // list
	force bool // promote
}

// keysRun is a subcommand at work: its configuration, its arguments, the
// Manager on the ring, and where it writes.
type keysRun struct {
	ctx    context.Context
	cmd    *keysCommand
	c      *config
	opts   keysOptions
	args   []string
	getenv func(string) string
	ring   *keyring.Manager
	store  *openedStore
	stdin  io.Reader // for keys import -
	stdout io.Writer
	stderr io.Writer
}

var keysCommands = []*keysCommand{
	{
		name: "list", flagsUse: "[-json]", maxArgs: 0,
		summary: "list the keys of the ring, with their states and times",
		about: "Lists the keys of the ring: key ID, algorithm, state (next, active,\n" +
			"retired or revoked) and the times each reached, in RFC 3339. With -json, a\n" +
			"JSON array of objects with kid, alg, state and the times (omitted when not\n" +
			"reached), plus promotable_at for a next key.",
		flags: func(fs *flag.FlagSet, o *keysOptions) {
			fs.BoolVar(&o.json, "json", false, "print a JSON array instead of a table")
		},
		run: keysList,
	},
	{
		name: "stage", maxArgs: 0,
		summary: "add a new next key: published from now on, signing once promoted",
		about: "Makes a new key (ES256) and adds it to the ring as a next key: every replica\n" +
			"publishes it from now on (within -store-poll), and it may sign once it has\n" +
			"been published for -publish-ahead (keys promote, or -rotate-every). In an\n" +
			"empty ring it is the active key at once.",
		run: keysStage,
	},
	{
		name: "promote", args: "[KID]", flagsUse: "[-force]", maxArgs: 1,
		summary: "make a next key (default: the one published first) the active key",
		about: "Makes the next key KID (default: the next key published first) the key\n" +
			"that signs, and retires the active key, which stays published until its\n" +
			"last token has expired. A key published for less than -publish-ahead is\n" +
			"refused, with the time it becomes safe: verifiers that have not fetched it\n" +
			"yet would refuse its tokens. -force promotes it anyway, and says what may\n" +
			"fail.",
		flags: func(fs *flag.FlagSet, o *keysOptions) {
			fs.BoolVar(&o.force, "force", false, "promote before the key's publish-ahead is over; verifiers that have not\nfetched it yet refuse its tokens until they refetch")
		},
		run: keysPromote,
	},
	{
		name: "revoke", args: "KID", minArgs: 1, maxArgs: 1,
		summary: "take a key out of the JWKS at once, for good (a leaked key)",
		about: "Takes the key KID out of every replica's JWKS at once (within -store-poll);\n" +
			"it never signs again. Its tokens fail as soon as verifiers refetch the\n" +
			"JWKS, which is the point. Revoking the active key promotes the next key at\n" +
			"once, or makes a new one: verifiers that have not fetched that key yet\n" +
			"refuse its first tokens, then refetch (clients retry on 401).",
		run: keysRevoke,
	},
	{
		name: "import", args: "[FILE]", maxArgs: 1,
		summary: "add an existing private key (FILE, - for stdin, or " + envPrivateKey + ")",
		about: "Adds an existing private key to the ring: the key in FILE (- reads standard\n" +
			"input) or else in " + envPrivateKey + ", in any form the server reads (the\n" +
			"Edge Functions' base64 JWK secret, JWK JSON or PEM). In an empty ring it is\n" +
			"the active key, so that the kid PowerSync knows stays; otherwise a next key,\n" +
			"published from now on.",
		run: keysImport,
	},
	{
		name: "rewrap", maxArgs: 0,
		summary: "seal every private key anew with the first key-encryption key",
		about: "Seals every private key of the ring anew with the first key of\n" +
			envKEK + ". To change the key-encryption key: add the\n" +
			"new key second on every replica, then put it first everywhere, run keys\n" +
			"rewrap once, and drop the old key.",
		run: keysRewrap,
	},
}

// keysUsage prints the list of subcommands.
func keysUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s keys SUBCOMMAND [flags] [arguments]\n\n", program)
	fmt.Fprintf(w, "Operations on the key ring the servers keep in their store (-store or\n"+
		"POWERSYNC_AUTH_STORE, default the file -key-file), opened with the same\n"+
		"key-encryption keys (%s) and the same policy\n"+
		"flags as the servers. Exit status: 0 done, 1 refused or failed, 2 bad usage.\n\n", envKEK)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, kc := range keysCommands {
		fmt.Fprintf(tw, "  %s\t%s\n", strings.Join(strings.Fields(kc.name+" "+kc.args+" "+kc.flagsUse), " "), kc.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun '%s keys SUBCOMMAND -h' for its flags.\n", program)
}

// runKeys runs "powersync-auth keys ARGS" and returns its exit status;
// keys import - reads the key from stdin.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		keysUsage(stderr)
		return exitConfig
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		keysUsage(stdout)
		return exitOK
	}
	i := slices.IndexFunc(keysCommands, func(kc *keysCommand) bool { return kc.name == args[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "%s keys: no subcommand %q\n", program, args[0])
		keysUsage(stderr)
		return exitConfig
	}
	kc := keysCommands[i]
	k := &keysRun{ctx: ctx, cmd: kc, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if err := k.parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return k.fail(exitConfig, err)
	}
	if code := k.open(); code != exitOK {
		return code
	}
	defer k.store.close()
	return kc.run(k)
}

// parse reads the subcommand's flags, which may come before, between and
// after its arguments, and the environment.
func (k *keysRun) parse(args []string) error {
	c := &config{}
	fs := flag.NewFlagSet(program+" keys "+k.cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.addRingFlags(fs)
	if k.cmd.flags != nil {
		k.cmd.flags(fs, &k.opts)
	}
	addEnvNames(fs)
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(k.stdout)
				k.usage(fs)
			}
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			k.args = append(k.args, rest...)
			break
		}
		k.args = append(k.args, rest[0])
		args = rest[1:]
	}
	switch {
	case len(k.args) < k.cmd.minArgs:
		return configErrorf("keys %s needs %s", k.cmd.name, k.cmd.args)
	case len(k.args) > k.cmd.maxArgs:
		return configErrorf("keys %s: unexpected argument %q", k.cmd.name, k.args[k.cmd.maxArgs])
	}
	from, err := setFromEnv(fs, k.getenv)
	if err != nil {
		return err
	}
	c.from = from
	if err := c.checkRingFlags(); err != nil {
		return err
	}
	if c.keks, err = parseKEKs(k.getenv(envKEK)); err != nil {
		return err
	}
	k.c = c
	return nil
}

// usage prints the subcommand's -h.
func (k *keysRun) usage(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\n", strings.Join(strings.Fields(program+" keys "+k.cmd.name+" [flags] "+k.cmd.args), " "), k.cmd.about)
	fmt.Fprintf(w, "Environment: %s, the key-encryption keys of the ring.\n\nFlags (as the servers', from the same variables):\n", envKEK)
	fs.PrintDefaults()
}

// open opens the store and a Manager on the ring that makes no key and
// rotates nothing: its goroutine is stopped at once, and operations go on
// without it.
func (k *keysRun) open() int {
	logger := ringLogger(slog.New(slog.NewTextHandler(k.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	store, err := openStore(k.ctx, k.c.store, logger)
	if err != nil {
		return k.fail(exitFailure, err)
	}
	opts := []keyring.Option{keyring.WithLogger(logger), keyring.WithoutKeyCreation()}
	if len(k.c.keks) > 0 {
		opts = append(opts, keyring.WithKeyEncryptionKeys(k.c.keks...))
	}
	p := k.c.policy()
	p.RotateEvery = 0 // the servers rotate; a subcommand only does what it is told
	ctx, stop := context.WithCancel(k.ctx)
	ring, err := keyring.New(ctx, store, p, opts...)
	stop()
	if err != nil {
		store.close()
		return k.fail(exitFailure, fmt.Errorf("the key ring in %s: %s", store.spec, ringReason(err, store.spec)))
	}
	<-ring.Done()
	k.ring, k.store = ring, store
	return exitOK
}

// fail reports err on stderr and returns code.
func (k *keysRun) fail(code int, err error) int {
	msg := err.Error()
	var ce *configError
	if errors.As(err, &ce) {
		msg = ce.msg
	}
	fmt.Fprintf(k.stderr, "%s keys %s: %s\n", program, k.cmd.name, msg)
	if code == exitConfig {
		fmt.Fprintf(k.stderr, "Run '%s keys %s -h' for usage.\n", program, k.cmd.name)
	}
	return code
}

// opError reports a failed operation on the ring: exit status 1.
func (k *keysRun) opError(err error) int {
	return k.fail(exitFailure, errors.New(ringNames.Replace(ringReason(err, k.store.spec))))
}

// publishAhead is the policy's publish-ahead, its default applied.
func (k *keysRun) publishAhead() time.Duration {
	p := k.c.policy()
	return cmp.Or(p.PublishAhead, p.SafePublishAhead())
}

// keyJSON is a key of keys list -json.
type keyJSON struct {
	KID          string `json:"kid"`
	Alg          string `json:"alg"`
	State        string `json:"state"`
	Created      string `json:"created,omitempty"`
	Published    string `json:"published,omitempty"`
	Activated    string `json:"activated,omitempty"`
	Retired      string `json:"retired,omitempty"`
	Revoked      string `json:"revoked,omitempty"`
	PromotableAt string `json:"promotable_at,omitempty"` // a next key: when its publish-ahead is over
}

// rfc3339 formats t in UTC, or "" when it is zero.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// upToSecond rounds a deadline (a key promotable from then, published until
// then) up to the whole second, so that waiting until the time rfc3339
// prints for it is enough: rfc3339 drops the fraction.
func upToSecond(t time.Time) time.Time {
	if down := t.Truncate(time.Second); !down.Equal(t) {
		return down.Add(time.Second)
	}
	return t
}

func keysList(k *keysRun) int {
	entries := k.ring.Entries()
	list := make([]keyJSON, 0, len(entries))
	for _, e := range entries {
		j := keyJSON{
			KID: e.KeyID(), Alg: string(e.Key.Algorithm()), State: string(e.State),
			Created: rfc3339(e.Created), Published: rfc3339(e.Published), Activated: rfc3339(e.Activated),
			Retired: rfc3339(e.Retired), Revoked: rfc3339(e.Revoked),
		}
		if e.State == keyring.StateNext && !e.Published.IsZero() {
			j.PromotableAt = rfc3339(upToSecond(e.Published.Add(k.publishAhead())))
		}
		list = append(list, j)
	}
	empty := fmt.Sprintf("the key ring in %s is empty: a server makes its first key on its first start, "+
		"or run %s keys stage (a new key) or keys import (an existing one)", k.store.spec, program)
	if k.opts.json {
		out, _ := json.MarshalIndent(list, "", "  ")
		fmt.Fprintf(k.stdout, "%s\n", out)
		if len(list) == 0 {
			fmt.Fprintln(k.stderr, empty)
		}
		return exitOK
	}
	if len(list) == 0 {
		fmt.Fprintln(k.stdout, empty)
		return exitOK
	}
	dash := func(s string) string { return cmp.Or(s, "-") }
	tw := tabwriter.NewWriter(k.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tPUBLISHED\tACTIVATED\tRETIRED\tREVOKED")
	for _, j := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.KID, j.Alg, j.State,
			dash(j.Created), dash(j.Published), dash(j.Activated), dash(j.Retired), dash(j.Revoked))
	}
	tw.Flush()
	for _, j := range list {
		if j.PromotableAt != "" {
			fmt.Fprintf(k.stdout, "next key %s may be promoted from %s (published for -publish-ahead %v)\n",
				j.KID, j.PromotableAt, k.publishAhead())
		}
	}
	return exitOK
}

func keysStage(k *keysRun) int {
	e, err := k.ring.Stage(k.ctx)
	if err != nil {
		return k.opError(err)
	}
	if e.State == keyring.StateActive {
		fmt.Fprintf(k.stdout, "the key ring was empty: key %s (%s) is its active key\n", e.KeyID(), e.Key.Algorithm())
		return exitOK
	}
	fmt.Fprintf(k.stdout, "staged key %s (%s) as a next key: published from now on; it may sign from %s "+
		"(after -publish-ahead %v): %s keys promote %s\n",
		e.KeyID(), e.Key.Algorithm(), rfc3339(upToSecond(e.Published.Add(k.publishAhead()))), k.publishAhead(), program, e.KeyID())
	return exitOK
}

func keysPromote(k *keysRun) int {
	kid := ""
	if len(k.args) > 0 {
		kid = k.args[0]
	}
	before := k.ring.Entries()
	e, err := k.ring.Promote(k.ctx, kid, k.opts.force)
	if errors.Is(err, keyring.ErrTooEarly) {
		msg := ringNames.Replace(ringReason(err, k.store.spec))
		msg = strings.TrimSuffix(msg, ". Wait, or force the promotion") + ". Wait, or promote it now with -force"
		if next, ok := promoteCandidate(before, kid); ok {
			at := upToSecond(next.Published.Add(k.publishAhead()))
			msg = fmt.Sprintf("key %s becomes safe to promote at %s (in %v), once published for -publish-ahead %v. %s",
				next.KeyID(), rfc3339(at), time.Until(at).Round(time.Second), k.publishAhead(), msg)
		}
		return k.fail(exitFailure, errors.New(msg))
	}
	if err != nil {
		return k.opError(err)
	}
	var old string
	for _, b := range before {
		if b.State == keyring.StateActive && b.KeyID() != e.KeyID() {
			old = b.KeyID()
		}
	}
	if old == "" {
		fmt.Fprintf(k.stdout, "key %s is the active key already: nothing changed\n", e.KeyID())
		return exitOK
	}
	p := k.c.policy()
	fmt.Fprintf(k.stdout, "promoted key %s: it signs from now on (on every replica within -store-poll %v); "+
		"key %s is retired and stays published until %s (retention %v)\n",
		e.KeyID(), cmp.Or(p.StorePoll, keyring.DefaultStorePoll), old, rfc3339(upToSecond(e.Activated.Add(p.Retention()))), p.Retention())
	if next, ok := promoteCandidate(before, kid); ok && k.opts.force {
		if at := next.Published.Add(k.publishAhead()); e.Activated.Before(at) {
			fmt.Fprintf(k.stdout, "forced %v before its publish-ahead was over: verifiers that have not fetched the JWKS "+
				"since the key was published may refuse its tokens until %s (PowerSync refuses a token once and "+
				"refetches; CDNs and clients caching the JWKS refuse until their copy expires); clients retry on 401\n",
				at.Sub(e.Activated).Round(time.Second), rfc3339(upToSecond(at)))
		}
	}
	return exitOK
}

// promoteCandidate returns the key Promote(kid) takes: kid, or the next key
// published first.
func promoteCandidate(entries []keyring.Entry, kid string) (keyring.Entry, bool) {
	var found keyring.Entry
	ok := false
	for _, e := range entries {
		switch {
		case kid != "" && e.KeyID() == kid:
			return e, e.State == keyring.StateNext
		case kid == "" && e.State == keyring.StateNext && (!ok || e.Published.Before(found.Published)):
			found, ok = e, true
		}
	}
	return found, ok
}

func keysRevoke(k *keysRun) int {
	kid := k.args[0]
	before := k.ring.Entries()
	if err := k.ring.Revoke(k.ctx, kid); err != nil {
		return k.opError(err)
	}
	wasActive := slices.ContainsFunc(before, func(e keyring.Entry) bool {
		return e.KeyID() == kid && e.State == keyring.StateActive
	})
	if slices.ContainsFunc(before, func(e keyring.Entry) bool { return e.KeyID() == kid && e.State == keyring.StateRevoked }) {
		fmt.Fprintf(k.stdout, "key %s was revoked already: nothing changed\n", kid)
		return exitOK
	}
	fmt.Fprintf(k.stdout, "revoked key %s: out of every replica's JWKS from now on (within -store-poll); "+
		"its tokens fail once verifiers refetch the JWKS\n", kid)
	if wasActive {
		if ks := k.ring.KeySet(); ks != nil {
			fmt.Fprintf(k.stdout, "key %s signs now: verifiers that have not fetched it yet refuse its first tokens, "+
				"then refetch (clients retry on 401)\n", ks.SigningKey().KeyID())
		}
	}
	return exitOK
}

func keysImport(k *keysRun) int {
	var data []byte
	var from string
	switch {
	case len(k.args) > 0 && k.args[0] == "-":
		from = "standard input"
		b, err := readSmall(k.stdin, from)
		if err != nil {
			return k.fail(exitConfig, err)
		}
		data = b
	case len(k.args) > 0:
		from = k.args[0]
		b, err := readSmallFile(from)
		if err != nil {
			return k.fail(exitConfig, err)
		}
		data = b
	default:
		from = envPrivateKey
		data = []byte(k.getenv(envPrivateKey))
		if len(data) == 0 {
			return k.fail(exitConfig, fmt.Errorf("give a FILE with the key, or set %s", envPrivateKey))
		}
	}
	key, err := jwks.ParseKey(data)
	if err != nil {
		return k.fail(exitConfig, fmt.Errorf("%s: %s", from, reason(err)))
	}
	if !key.CanSign() {
		return k.fail(exitConfig, fmt.Errorf("%s holds a public key (kid %q): a ring's keys sign, so import a private key", from, key.KeyID()))
	}
	before := k.ring.Entries()
	e, err := k.ring.Import(k.ctx, key)
	if err != nil {
		return k.opError(err)
	}
	switch {
	case slices.ContainsFunc(before, func(b keyring.Entry) bool { return b.KeyID() == e.KeyID() }):
		fmt.Fprintf(k.stdout, "key %s is the ring's %s key already: nothing changed\n", e.KeyID(), e.State)
	case e.State == keyring.StateActive:
		fmt.Fprintf(k.stdout, "imported key %s (%s) as the active key of the empty ring\n", e.KeyID(), e.Key.Algorithm())
	default:
		fmt.Fprintf(k.stdout, "imported key %s (%s) as a next key: published from now on; it may sign from %s: %s keys promote %s\n",
			e.KeyID(), e.Key.Algorithm(), rfc3339(upToSecond(e.Published.Add(k.publishAhead()))), program, e.KeyID())
	}
	return exitOK
}

// readSmallFile reads a key file of at most 1 MiB.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readSmall(f, path)
}

// readSmall reads a key of at most 1 MiB from r, which from names; more is
// refused, not cut short.
func readSmall(r io.Reader, from string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", from, err)
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%s is larger than 1 MiB: it is not a key", from)
	}
	return b, nil
}

func keysRewrap(k *keysRun) int {
	if len(k.c.keks) == 0 {
		return k.fail(exitConfig, fmt.Errorf("needs %s: the key-encryption keys, the new one first", envKEK))
	}
	if err := k.ring.Rewrap(k.ctx); err != nil {
		return k.opError(err)
	}
	fmt.Fprintf(k.stdout, "every private key of the ring is sealed with key-encryption key %s now; "+
		"once every replica lists it first, the others may be dropped from %s\n", keyring.KEKID(k.c.keks[0]), envKEK)
	return exitOK
}
