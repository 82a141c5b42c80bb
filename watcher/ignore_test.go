package watcher

import (
	"path/filepath"
	"testing"
)

func TestAlwaysIgnored(t *testing.T) {
	ignored := []string{
		".git", ".hg", ".svn", ".bzr", "_darcs", ".jj",
		".main.go.swp", ".main.go.swo", ".main.go.swa", ".main.go.swx", ".main.go.swpx",
		"4913", "5036", "5159",
		"main.go~", "main.go.~1~",
		"#main.go#", ".#main.go",
		"main.go___jb_tmp___", "main.go___jb_old___",
		"main.go.tmp", "main.go.tmp.20171.4a2655829367", "main.go.vsctmp", "main.go.crswap",
		".main.go.kate-swp", ".goutputstream-4TQ2K2", "sedX3b9Qz",
		".DS_Store", "._main.go",
	}
	kept := []string{
		"main.go", ".gitignore", ".petsignore", ".github", "git", ".gitkeep",
		".env", ".main.go.sql", "swp", ".swp.go",
		"4912", "4914", "12345", "0913",
		"#", "##", "main#", "sed", "sedative", "sed-1.2.3", "seduction",
		"tmp", "tmp.go", "main.tmpl", ".tmp.go", "x.tmp.go",
		"DS_Store", "_main.go",
	}
	for _, n := range ignored {
		if !AlwaysIgnored(n) {
			t.Errorf("AlwaysIgnored(%q) = false, want true", n)
		}
	}
	for _, n := range kept {
		if AlwaysIgnored(n) {
			t.Errorf("AlwaysIgnored(%q) = true, want false", n)
		}
	}
}

func TestMatcher(t *testing.T) {
	top := tempDir(t)
	root := filepath.Join(top, "services")
	at := func(rel string) string { return filepath.Join(top, filepath.FromSlash(rel)) }
	mkdirAll(t, at(".git"), at("services/api/gen"), at("services/web/lib"))
	// The repository's top-level .gitignore applies to a root inside it.
	writeFile(t, at(".gitignore"), "# comment\n\n*.log\n!keep.log\nbuild/\ndocs/*.html\nfo?.txt\n")
	writeFile(t, at("services/.petsignore"), "scratch\n")
	writeFile(t, at("services/api/.gitignore"), "gen/\n!important.log\n")
	writeFile(t, at("services/api/.petsignore"), "!gen/\nsecret.txt\n")
	writeFile(t, at("services/web/.gitignore"), "/lib/\n")

	m, err := NewMatcher([]string{root}, []string{at("services/**/node_modules/**"), at("services/web/*.map")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		rel   string
		isDir bool
		want  bool
	}{
		{"services/main.go", false, false},
		{"services/app.log", false, true},            // top-level *.log
		{"services/keep.log", false, false},          // negated at top
		{"services/build", true, true},               // build/ matches a directory
		{"services/build", false, false},             // but not a file
		{"services/build/out.bin", false, true},      // under an ignored directory
		{"services/docs/index.html", false, false},   // docs/*.html is anchored to the top
		{"services/foo.txt", false, true},            // ? matches one character
		{"services/fooo.txt", false, false},          //
		{"services/scratch", false, true},            // .petsignore
		{"services/api/important.log", false, false}, // deeper negation wins
		{"services/api/gen", true, false},            // .petsignore beats .gitignore in one directory
		{"services/api/secret.txt", false, true},     //
		{"services/web/secret.txt", false, false},    // api's rules stay in api
		{"services/web/lib", true, true},             // /lib/ anchored to web
		{"services/web/src/lib", true, false},        //
		{"services/web/node_modules", true, true},    // Options-style glob matches the directory
		{"services/web/node_modules/react/index.js", false, true},
		{"services/web/app.js.map", false, true},
		{"services/web/sub/app.js.map", false, false},
		{"services/.git", true, true},
		{"services/web/.git/config", false, true},
		{"services/web/.main.go.swp", false, true},
	}
	for _, tc := range tests {
		p := at(tc.rel)
		if got := m.Ignored(p, tc.isDir); got != tc.want {
			t.Errorf("Ignored(%s, dir=%v) = %v, want %v", tc.rel, tc.isDir, got, tc.want)
		}
	}
	// A Dir decides a directory's entries as IgnoredIn does, with one root
	// or several (services/api a root of its own inside services, and
	// services/web/lib one whose parent is in the other root).
	m2, err := NewMatcher([]string{root, at("services/api"), at("services/web/lib")}, []string{at("services/**/node_modules/**"), at("services/web/*.map")})
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range []*Matcher{m, m2} {
		for _, tc := range append(tests, struct {
			rel   string
			isDir bool
			want  bool
		}{"services/api", true, false}, struct {
			rel   string
			isDir bool
			want  bool
		}{"services/web/lib", true, false}) {
			p := at(tc.rel)
			if got, want := mm.Dir(filepath.Dir(p)).Ignored(p, filepath.Base(p), tc.isDir), mm.IgnoredIn(p, tc.isDir); got != want {
				t.Errorf("%d roots: Dir(%s).Ignored(%s, dir=%v) = %v, IgnoredIn says %v", len(mm.roots), filepath.Dir(tc.rel), filepath.Base(p), tc.isDir, got, want)
			}
		}
	}

	// Forget re-reads a directory's files.
	writeFile(t, at("services/web/.gitignore"), "")
	if !m.Ignored(at("services/web/lib"), true) {
		t.Error("cached rules were re-read without Forget")
	}
	m.Forget(at("services/web"))
	if m.Ignored(at("services/web/lib"), true) {
		t.Error("Forget did not drop the old rules")
	}
}

func TestMatcherRejectsBadInput(t *testing.T) {
	if _, err := NewMatcher([]string{"relative/dir"}, nil); err == nil {
		t.Error("relative root accepted")
	}
	if _, err := NewMatcher([]string{"/abs"}, []string{"/abs/[unclosed"}); err == nil {
		t.Error("bad pattern accepted")
	}
}
