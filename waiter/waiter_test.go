package waiter

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestBeside(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "pets")
	if got := Beside(exe); got != exe {
		t.Errorf("no %s beside pets: Beside = %s; want pets itself", Binary, got)
	}
	name := Binary
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	w := filepath.Join(dir, name)
	if err := os.WriteFile(w, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		if got := Beside(exe); got != exe {
			t.Errorf("a %s that is not executable: Beside = %s; want pets itself", Binary, got)
		}
		if err := os.Chmod(w, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if got := Beside(exe); got != w {
		t.Errorf("Beside = %s; want %s", got, w)
	}
}
