package main

import (
	"cmp"
	"runtime/debug"
	"strings"
)

// version, when set at link time (go build -ldflags "-X main.version=v1.2.0"),
// is the version -version prints in place of the module's: for a release
// built from its tag without VCS stamping, say.
var version string

// buildVersion describes the binary from its build information: the module
// version, then for a build whose version does not name its commit the
// commit, its time and "+modified" when the tree had changes, and the Go
// version. Go stamps a build in a clone of the repository with a
// pseudo-version that names the commit ("+dirty" for uncommitted changes);
// a build without VCS stamping (-buildvcs=false, or outside a clone) is
// "(devel)":
//
//	v0.0.0-20261201142249-1c158025f57e go1.26.8
//	v0.0.0-20261201142249-1c158025f57e+dirty go1.26.8
//	(devel) go1.26.8
//	v1.2.0 go1.26.8                      (with -ldflags "-X main.version=v1.2.0")
//
// It is what -version prints and the start-up log's "version".
func buildVersion() string {
	info := buildInfo()
	if info == nil {
		return cmp.Or(version, "unknown")
	}
	return describeBuild(info)
}

// buildInfo is the binary's build information with version, when set, as
// its module version; nil when the binary has none.
func buildInfo() *debug.BuildInfo {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	if version != "" {
		withVersion := *info
		withVersion.Main.Version = version
		info = &withVersion
	}
	return info
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
