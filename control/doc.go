// Package control is the local request socket of a watching pets (pets up
// --watch, pets watch): the way other pets commands (pets restart, pets list,
// pets wait) ask it to do something or tell them what it knows.
//
// The socket is a unix socket in the state directory, DIR/watch-PID.sock.
// Where that path does not fit a socket address (sun_path: 108 bytes on
// Linux and Windows, 104 on macOS and the BSDs, the terminating NUL
// included) the socket goes to TMP/pets-UID/HASH.sock instead, HASH being
// the first 16 hex digits of sha256(DIR, PID); that directory must be the
// user's own with mode 0700, else Listen refuses it (someone else made it)
// and says so. Callers find the path in the state record, so its shape is
// not a contract.
//
// Who may talk to it, in two layers:
//
//   - The socket file has mode 0600, so that another user cannot even
//     connect (EACCES). It never has any other mode where another user
//     could reach it: in the state directory it is bound inside a fresh
//     0700 directory (os.MkdirTemp; the umask can only narrow that),
//     chmod'ed to 0600 there and then renamed into place, so it appears at
//     its path already 0600; in the 0700 fallback directory it is bound in
//     place and chmod'ed before anyone else could traverse to it. Changing
//     the process umask instead would race with every other goroutine that
//     creates files.
//   - Every accepted connection's peer uid is checked against ours
//     (SO_PEERCRED on Linux, LOCAL_PEERCRED on macOS and FreeBSD); a peer
//     of another uid gets one reply, "refused: peer uid N is not the owner
//     uid M", and is hung up on; the Handler never sees it. The client
//     checks the server the same way, so that it never sends a request to
//     (or believes the answers of) a socket of another user.
//
// On other platforms the file mode (and on Windows the per-user ACL of the
// state directory, which the socket file inherits) is the only guard.
//
// A stale socket file (its pets died without removing it) is removed before
// binding, but only once a connection to it is refused; a socket that
// answers makes Listen fail.
//
// Protocol: JSON lines. The client sends one Request line and keeps its
// side open (a half-close counts as going away); the server streams Reply
// lines and ends with exactly one Reply whose Done is true, carrying the
// Handler's error, if any, in Error; then it closes the connection. Readers
// must ignore fields they do not know. A client that goes away cancels the
// Handler's context; so does Server.Close, after which replies still being
// written get one second to reach the client.
package control
