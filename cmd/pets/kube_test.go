//go:build linux

package main

import (
	"debug/buildinfo"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The pets binary links no client-go (its inits cost every start); pets-kube,
// the same commands with Kubernetes, does.
func TestPetsLinksNoClientGo(t *testing.T) {
	for _, tc := range []struct {
		bin  string
		want bool
	}{{petsBin, false}, {filepath.Join(filepath.Dir(petsBin), "pets-kube"), true}} {
		bi, err := buildinfo.ReadFile(tc.bin)
		if err != nil {
			t.Fatal(err)
		}
		has := false
		for _, d := range bi.Deps {
			has = has || d.Path == "k8s.io/client-go" || d.Path == "k8s.io/api"
		}
		if has != tc.want {
			t.Errorf("%s links client-go: %v; want %v", filepath.Base(tc.bin), has, tc.want)
		}
	}
}

// A Petsfile that live-syncs is handed to pets-kube as it loads: the
// Petsfile's top-level run() and print() happen once, and what fails is
// pets-kube's connection (no kubeconfig here), not pets' lack of one.
// Without pets-kube beside pets, the error says how to get it. Either way
// nothing is left started.
func TestLiveSyncIsHandedToPetsKube(t *testing.T) {
	alone := petsAlone(t) // no pets-kube beside it
	for _, tc := range []struct {
		pets string
		want []string
	}{
		{petsBin, []string{"live sync: kube: no kubeconfig found (looked in /nonexistent)"}},
		{alone, []string{"pets hands what needs Kubernetes to pets-kube, and there is no " + filepath.Join(filepath.Dir(alone), "pets-kube"), "make build puts it beside bin/pets"}},
	} {
		e := newEnv(t)
		port := freePort(t)
		e.write("Petsfile", `print("evaluated")
run("echo ran >> ran.txt")
register("backend", "k8s", lambda: service(start("exec $PETSERVER --port `+strconv.Itoa(port)+`"), "127.0.0.1", `+strconv.Itoa(port)+`),
         sync=[sync_rule("app=backend", {"static": "/www"})])
`)
		cmd := e.cmd("up", "--tier", "k8s")
		cmd.Path, cmd.Args[0] = tc.pets, tc.pets
		cmd.Env = append(cmd.Env, "KUBECONFIG=/nonexistent")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("%s up succeeded with no cluster:\n%s", tc.pets, out)
		}
		for _, want := range tc.want {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s up: the output lacks %q:\n%s", tc.pets, want, out)
			}
		}
		if n := strings.Count(string(out), "evaluated"); n != 1 {
			t.Errorf("%s up: print() said %d times:\n%s", tc.pets, n, out)
		}
		if ran, err := os.ReadFile(filepath.Join(e.dir, "ran.txt")); err != nil || string(ran) != "ran\n" {
			t.Errorf("%s up: the top-level run() ran %q (%v); want once", tc.pets, ran, err)
		}
		if l := e.list(); len(l) != 0 {
			t.Errorf("%s up: left %v", tc.pets, l)
		}
	}
}
