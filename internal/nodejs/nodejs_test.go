package nodejs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckMissing checks that an interop directory whose dependencies were
// never installed is reported as missing, with the command that installs
// them: the case in which the interop tests skip (unless CI is set).
func TestCheckMissing(t *testing.T) {
	dir := t.TempDir()
	pkg, err := os.ReadFile(filepath.Join(Dir(), "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), pkg, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = check(dir)
	if !errors.Is(err, errMissing) {
		t.Fatalf("check of a directory without node_modules: %v, want an error wrapping errMissing", err)
	}
	if want := "run `npm ci` in interop/ (make test does)"; !strings.Contains(err.Error(), want) {
		t.Errorf("the error %q does not say %q", err, want)
	}
}
