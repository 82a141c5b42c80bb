package proc

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestReleaseEncoding(t *testing.T) {
	for _, r := range []Release{
		{Line: "exec ./server --port 8080", Dir: "/src/app", Env: []string{"PETS_SERVICE=api", "EMPTY=", "A=b=c"}},
		{Line: `echo "a b"; exec sleep 1`, Dir: ""},
	} {
		msg := r.encode()
		head, body, _ := strings.Cut(string(msg), "\n")
		if head != "go "+strconv.Itoa(len(body)) {
			t.Errorf("encode(%+v) begins %q, not go and the length of the rest (%d)", r, head, len(body))
		}
		got, ok := decodeRelease([]byte(body))
		if !ok || got.Line != r.Line || got.Dir != r.Dir || !slices.Equal(got.Env, r.Env) {
			t.Errorf("decode(encode(%+v)) = %+v, %v", r, got, ok)
		}
	}
	// Anything else runs nothing: a message cut short, a release without
	// a line.
	for _, b := range []string{"", "g", "cmd", "\x00/dir\x00"} {
		if got, ok := decodeRelease([]byte(b)); ok {
			t.Errorf("decodeRelease(%q) = %+v, true; want false", b, got)
		}
	}
}
