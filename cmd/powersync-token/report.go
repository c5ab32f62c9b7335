package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/powersync-jwks/jwks/internal/quote"
)

// writeJSON writes the report as one JSON object.
func (r *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// writeText writes the report for a person: the token decoded, the JWKS,
// each problem with its code and fix, and the verdict.
func (r *report) writeText(w io.Writer) error {
	var b bytes.Buffer
	b.WriteString("Token (decoded, not trusted):\n")
	writeMember(&b, "header", r.Header, r.headerErr)
	writeMember(&b, "claims", r.Claims, r.claimsErr)
	var times []string
	for _, name := range []string{"iat", "nbf", "exp"} {
		if secs, ok := num(r.Claims, name); ok && secs >= 0 && secs < 1<<40 {
			d := r.now.Truncate(time.Second).Sub(time.Unix(int64(secs), 0))
			when := fmt.Sprintf("%v ago", d)
			if d < 0 {
				when = fmt.Sprintf("in %v", -d)
			}
			times = append(times, fmt.Sprintf("%s %s (%s)", name, unix(secs), when))
		}
	}
	if len(times) > 0 {
		fmt.Fprintf(&b, "  times: %s\n", strings.Join(times, ", "))
	}

	fmt.Fprintf(&b, "\nJWKS: %d usable key", len(r.JWKS.Kids))
	if len(r.JWKS.Kids) != 1 {
		b.WriteString("s")
	}
	if len(r.JWKS.Kids) > 0 {
		fmt.Fprintf(&b, ": %s", quoteAll(r.JWKS.Kids))
	}
	b.WriteString("\n")
	for _, s := range r.JWKS.Skipped {
		label := "skipped"
		if s.Warning {
			label = "WARNING"
		}
		fmt.Fprintf(&b, "  %s: key %d (kid %s): %s\n    %s\n    fix: %s\n", label, s.Index, quote.Value(s.KeyID), s.Reason, s.PowerSync, s.Fix)
	}
	for _, n := range r.JWKS.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}

	b.WriteString("\n")
	if r.OK {
		b.WriteString("PowerSync would accept this token.\n")
	} else {
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "%s %s\n  %s\n", p.Code, p.Rule, strings.ReplaceAll(p.Detail, "\n", "\n  "))
			if p.Fix != "" {
				fmt.Fprintf(&b, "  fix: %s\n", p.Fix)
			}
			b.WriteString("\n")
		}
		n := len(r.Problems)
		fmt.Fprintf(&b, "PowerSync would refuse this token: %d problem%s.\n", n, map[bool]string{true: "", false: "s"}[n == 1])
	}
	_, err := w.Write(b.Bytes())
	return err
}

// writeMember writes the header or the claims as indented JSON, or why they
// do not decode.
func writeMember(b *bytes.Buffer, name string, m map[string]any, why string) {
	if m == nil {
		if why == "" {
			why = "does not decode"
		}
		fmt.Fprintf(b, "  %s: (%s)\n", name, why)
		return
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetIndent("  ", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		fmt.Fprintf(b, "  %s: (%v)\n", name, err)
		return
	}
	fmt.Fprintf(b, "  %s: %s\n", name, strings.TrimRight(out.String(), "\n"))
}
