package waiter

import (
	"os"
	"os/exec"
	"strings"
)

// direct returns the program and arguments of line when `bash -c line`
// would do no more than exec them: "exec" and then words of characters no
// shell treats specially (no quotes, variables, globs, redirections,
// operators or tilde), the first not an option of exec nor an assignment,
// naming an executable (found on PATH when it has no slash). The waiter
// then execs it itself, which spares bash's start (about 1 ms) on every
// start of a server written as start("exec ./server ..."); anything else,
// and a program that is not there (whose error bash words), goes to bash.
func direct(line string) (path string, argv []string, ok bool) {
	words := strings.Fields(line)
	if len(words) < 2 || words[0] != "exec" {
		return "", nil, false
	}
	for _, r := range line {
		if !plain(r) {
			return "", nil, false
		}
	}
	argv = words[1:]
	if strings.HasPrefix(argv[0], "-") || strings.Contains(argv[0], "=") {
		return "", nil, false
	}
	path, err := exec.LookPath(argv[0]) // no slash: PATH; else relative to the directory
	if err != nil {
		return "", nil, false
	}
	return path, argv, true
}

// plain says whether bash takes r literally in a word (or as a space
// between words).
func plain(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return true
	}
	return strings.ContainsRune("_-./:=,@%+ ", r)
}

// directEnv is the environment bash would have given a program it execs
// (`bash -c "exec program"`): PWD set to the working directory, SHLVL as it
// was, or 0 when unset.
func directEnv() []string {
	env := os.Environ()
	wd, err := os.Getwd()
	pwd, shlvl := false, false
	for i, kv := range env {
		switch {
		case strings.HasPrefix(kv, "PWD="):
			if err == nil {
				env[i] = "PWD=" + wd
			}
			pwd = true
		case strings.HasPrefix(kv, "SHLVL="):
			shlvl = true
		}
	}
	if !pwd && err == nil {
		env = append(env, "PWD="+wd)
	}
	if !shlvl {
		env = append(env, "SHLVL=0")
	}
	return env
}
