package cli

import (
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

func TestGlobQuoteMatchesOnlyThePath(t *testing.T) {
	for _, p := range []string{"/src/app/pets.log", "/src/[x]/a*b?.log", "/src/{a,b}/c.log"} {
		g := globQuote(p)
		if ok, err := doublestar.Match(g, p); err != nil || !ok {
			t.Errorf("%q (from %q) does not match %q (%v)", g, p, p, err)
		}
		for _, other := range []string{"/src/x/ab.log", "/src/a/c.log", "/src/app/pets.logs"} {
			if ok, _ := doublestar.Match(g, other); ok {
				t.Errorf("%q (from %q) matches %q", g, p, other)
			}
		}
	}
}
