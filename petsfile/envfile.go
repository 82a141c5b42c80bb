package petsfile

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// envNamePattern is what ReadEnvFile and env= accept as a variable name:
// what docker compose and dotenv accept ('.' and '-' included).
var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// EnvFileError is a line of an env file that ReadEnvFile cannot read.
type EnvFileError struct {
	Path string
	Line int
	Msg  string
}

func (e *EnvFileError) Error() string { return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg) }

// ReadEnvFile reads a .env file, as docker compose and overmind read them,
// and returns its variables as "NAME=value" entries, in file order (a name
// set twice appears twice; the later one wins when the command starts).
//
// The syntax, one variable per line:
//
//	# a comment; blank lines are skipped
//	NAME=value                 # the value, trimmed, up to an inline " #" comment
//	export NAME=value          # "export " is allowed, and ignored
//	NAME='single quoted'       # taken literally, may span lines
//	NAME="double quoted\n"     # \n \r \t \" \\ \$ escapes; may span lines
//	NAME=                      # empty
//
// There is no variable interpolation: "$HOME" or "${X:-y}" is passed on as
// written (bash -c sees it only if the command itself expands it).
func ReadEnvFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseEnv(path, string(data))
}

func parseEnv(path, src string) ([]string, error) {
	src = strings.TrimPrefix(src, "\ufeff")
	src = strings.ReplaceAll(src, "\r\n", "\n")
	lines := strings.Split(src, "\n")
	var out []string
	for i := 0; i < len(lines); i++ {
		n := i + 1
		fail := func(format string, args ...any) error {
			return &EnvFileError{Path: path, Line: n, Msg: fmt.Sprintf(format, args...)}
		}
		line := strings.TrimLeft(lines[i], " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			line = strings.TrimLeft(rest, " \t")
		}
		name, raw, ok := strings.Cut(line, "=")
		name = strings.TrimRight(name, " \t")
		if !ok {
			return nil, fail("want NAME=value, got %q (pets does not copy a variable from its own environment: give the value)", strings.TrimSpace(lines[i]))
		}
		if !envNamePattern.MatchString(name) {
			return nil, fail("%q is not a variable name: use letters, digits, '_', '.' and '-', starting with a letter or '_'", name)
		}
		value := strings.TrimLeft(raw, " \t")
		switch {
		case value != "" && (value[0] == '\'' || value[0] == '"'):
			quote := value[0]
			body := value[1:]
			var b strings.Builder
			for {
				end := closingQuote(body, quote)
				if end >= 0 {
					if quote == '"' {
						b.WriteString(unescapeDouble(body[:end]))
					} else {
						b.WriteString(body[:end])
					}
					after := strings.TrimLeft(body[end+1:], " \t")
					if after != "" && after[0] != '#' {
						return nil, &EnvFileError{Path: path, Line: i + 1, Msg: fmt.Sprintf("unexpected %q after the closing quote of %s; put a space and '#' before a comment", after, name)}
					}
					break
				}
				// The value goes on, on the next line.
				if quote == '"' {
					b.WriteString(unescapeDouble(body))
				} else {
					b.WriteString(body)
				}
				b.WriteByte('\n')
				i++
				if i >= len(lines) {
					return nil, fail("the value of %s opens a %c quote that never closes", name, quote)
				}
				body = lines[i]
			}
			value = b.String()
		default:
			// An inline comment starts at a '#' after whitespace:
			// "URL=http://x/#top" keeps its '#', "A=b # note" does not.
			for j := 1; j < len(raw); j++ {
				if raw[j] == '#' && (raw[j-1] == ' ' || raw[j-1] == '\t') {
					raw = raw[:j]
					break
				}
			}
			value = strings.TrimSpace(raw)
		}
		out = append(out, name+"="+value)
	}
	return out, nil
}

// closingQuote returns the index in s of the quote that closes a value, or
// -1. In double quotes a backslash escapes the next byte.
func closingQuote(s string, quote byte) int {
	for i := 0; i < len(s); i++ {
		switch {
		case quote == '"' && s[i] == '\\':
			i++
		case s[i] == quote:
			return i
		}
	}
	return -1
}

// unescapeDouble resolves the escapes of a double-quoted value: \n \r \t
// \" \\ and \$ (for files written for docker compose, which interpolates);
// any other backslash is kept.
func unescapeDouble(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '"', '\\', '$':
			b.WriteByte(s[i])
		default:
			b.WriteByte('\\')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
