package main

import (
	"runtime/debug"
	"strings"
)

// buildVersion describes the binary from its build information: the module
// version ("v1.2.0" when built by go install …@v1.2.0, "(devel)" from a
// clone), then for a build from a clone the commit, its time and
// "+modified" when the tree had changes, and the Go version:
//
//	v1.2.0 go1.26.8
//	(devel) 2cc1a6b0c4d1 2026-12-01T13:59:56Z+modified go1.26.8
//
// It is what -version prints and the start-up log's "version".
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	return describeBuild(info)
}

// describeBuild is buildVersion of info.
func describeBuild(info *debug.BuildInfo) string {
	parts := []string{info.Main.Version}
	if parts[0] == "" {
		parts[0] = "(devel)"
	}
	var revision, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	// A module version from a tag or a pseudo-version already names the
	// commit; a build from a clone names it in its settings.
	if revision != "" && !strings.Contains(info.Main.Version, revision[:min(12, len(revision))]) {
		vcs := revision[:min(12, len(revision))]
		if at != "" {
			vcs += " " + at
		}
		if modified {
			vcs += "+modified"
		}
		parts = append(parts, vcs)
	}
	if info.GoVersion != "" {
		parts = append(parts, info.GoVersion)
	}
	return strings.Join(parts, " ")
}
