package proc

import (
	"slices"
	"testing"
)

func TestReleaseEncoding(t *testing.T) {
	for _, r := range []Release{
		{Line: "exec ./server --port 8080", Dir: "/src/app", Env: []string{"PETS_SERVICE=api", "EMPTY=", "A=b=c"}},
		{Line: `echo "a b"; exec sleep 1`, Dir: ""},
	} {
		got, ok := decodeRelease(r.encode())
		if !ok || got.Line != r.Line || got.Dir != r.Dir || !slices.Equal(got.Env, r.Env) {
			t.Errorf("decode(encode(%+v)) = %+v, %v", r, got, ok)
		}
	}
	// The plain go-ahead (a waiter forked with its line) carries nothing.
	if got, ok := decodeRelease([]byte(goAhead)); !ok || got.Line != "" {
		t.Errorf("the plain go-ahead decodes as %+v, %v", got, ok)
	}
	// Anything else runs nothing: nothing at all (the starter died), a
	// message cut short, a release without a line.
	for _, b := range []string{"", "g", "go", "stop\n", "go\n\x00/dir\x00"} {
		if got, ok := decodeRelease([]byte(b)); ok {
			t.Errorf("decodeRelease(%q) = %+v, true; want false", b, got)
		}
	}
}
