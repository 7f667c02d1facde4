// Command mfactl is the operator's command line for the MFA state a host
// keeps with github.com/identsphere/mfa/sqlstore: it makes keys, migrates
// the schema, re-seals secrets after a key rotation, shows, unlocks and
// deletes a user's MFA state and shows the audit outbox.
//
// Usage:
//
//	mfactl COMMAND [FLAGS] [ARGS]
//
//	mfactl keygen
//	mfactl migrate     -driver D -dsn DSN [-prefix P]
//	mfactl reseal      -driver D -dsn DSN [-prefix P] [-keys-file PATH] [-batch N] [-allow-plaintext]
//	mfactl status      -driver D -dsn DSN [-prefix P] [-max-lockouts N] USER
//	mfactl unlock      -driver D -dsn DSN [-prefix P] USER
//	mfactl delete      -driver D -dsn DSN [-prefix P] USER
//	mfactl events tail -driver D -dsn DSN [-prefix P] [-n N]
//
// -driver is sqlite, postgres or mysql; -dsn is a SQLite file path, a
// PostgreSQL URL or keyword/value string, or a go-sql-driver/mysql DSN;
// -prefix is the tables' prefix (sqlstore.Config.TablePrefix, default
// mfa_). Flags come after the command and before its arguments.
//
// keygen prints a new key ring entry "id:base64" (32 random bytes) for
// MFA_KEYS. reseal re-seals every TOTP secret under the primary key of the
// ring in the environment variable MFA_KEYS, or in the file -keys-file
// names, which takes precedence. events tail prints the oldest -n audit
// events that wait in the outbox, and those set aside after too many
// failed deliveries, as JSON lines; it delivers and deletes nothing.
// delete asks no question.
//
// mfactl never delivers the host's audit events: the Service it uses keeps
// the outbox off. It prints no secret, code, hash, key (keygen's output
// aside) or DSN password.
//
// Exit status: 0 on success, 1 when the operation failed (a database that
// does not answer, an unknown user, a secret that does not open), 2 on bad
// usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// A command is one entry of the command table.
type command struct {
	// usage is the command's synopsis after "mfactl ".
	usage string
	// summary is one line for the general usage text.
	summary string
	run     func(ctx context.Context, app *app, args []string) error
}

// commands is the command table.
var commands = map[string]command{
	"keygen":  {"keygen", "print a new key ring entry id:base64 for MFA_KEYS", runKeygen},
	"migrate": {"migrate -driver D -dsn DSN [-prefix P]", "create or upgrade the schema", runMigrate},
	"reseal":  {"reseal -driver D -dsn DSN [-prefix P] [-keys-file PATH] [-batch N] [-allow-plaintext]", "re-seal every TOTP secret under the primary key of MFA_KEYS", runReseal},
	"status":  {"status -driver D -dsn DSN [-prefix P] [-max-lockouts N] USER", "show a user's MFA state and lockout", runStatus},
	"unlock":  {"unlock -driver D -dsn DSN [-prefix P] USER", "end a user's lockout", runUnlock},
	"delete":  {"delete -driver D -dsn DSN [-prefix P] USER", "delete all of a user's MFA state", runDelete},
	"events":  {"events tail -driver D -dsn DSN [-prefix P] [-n N]", "print the audit events waiting in the outbox as JSON lines", runEvents},
}

// app is what every command writes to, and the DSN passwords to keep out
// of its error messages.
type app struct {
	stdout, stderr io.Writer
	// secrets are strings redacted from every error message.
	secrets []string
}

// helpRequest is the answer to -h: show the command's usage and flags.
type helpRequest struct{ fs *flag.FlagSet }

func (*helpRequest) Error() string { return "help requested" }

// usageError is an error of the command line itself: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, generalUsage())
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, generalUsage())
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "mfactl: unknown command %q\n%s", args[0], generalUsage())
		return 2
	}
	err := cmd.run(ctx, a, args[1:])
	var usage *usageError
	var help *helpRequest
	switch {
	case err == nil:
		return 0
	case errors.As(err, &help):
		fmt.Fprintf(stdout, "usage: mfactl %s\n\nflags:\n", cmd.usage)
		help.fs.SetOutput(stdout)
		help.fs.PrintDefaults()
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "mfactl: %s\nusage: mfactl %s\n", a.message(usage), cmd.usage)
		return 2
	default:
		fmt.Fprintf(stderr, "mfactl: %s\n", a.message(err))
		return 1
	}
}

// generalUsage lists the commands.
func generalUsage() string {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: mfactl COMMAND [FLAGS] [ARGS]\n\ncommands:\n")
	for _, name := range names {
		fmt.Fprintf(&b, "  %-8s %s\n", name, commands[name].summary)
	}
	b.WriteString("\n-driver is sqlite, postgres or mysql; -dsn a SQLite file, a PostgreSQL URL or a MySQL DSN.\n" +
		"Run mfactl COMMAND -h for a command's flags.\n")
	return b.String()
}

// message returns err's message as one line, without the app's secrets:
// the lines of a multi-line message (pgx's, one per address tried) are
// joined with spaces, repeated lines dropped.
func (a *app) message(err error) string {
	msg := err.Error()
	for _, s := range a.secrets {
		msg = redact(msg, s)
	}
	var lines []string
	for _, line := range strings.Split(msg, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !slices.Contains(lines, line) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, " ")
}

// redact replaces each occurrence of secret in msg that is not part of a
// longer word, so that a short password ("mfa") leaves "mfactl" alone.
func redact(msg, secret string) string {
	if secret == "" {
		return msg
	}
	var b strings.Builder
	for {
		i := strings.Index(msg, secret)
		if i < 0 {
			break
		}
		end := i + len(secret)
		before, _ := utf8.DecodeLastRuneInString(msg[:i])
		after, _ := utf8.DecodeRuneInString(msg[end:])
		b.WriteString(msg[:i])
		if isWordRune(before) || isWordRune(after) {
			b.WriteString(secret)
		} else {
			b.WriteString("xxxxx")
		}
		msg = msg[end:]
	}
	b.WriteString(msg)
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// newFlags returns the FlagSet of a command. It prints nothing: parse
// returns its errors, and run prints them.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args with fs and returns the arguments after the flags,
// one for each of names: a usage error when there are more or fewer.
func parse(fs *flag.FlagSet, args []string, names ...string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &helpRequest{fs}
		}
		return nil, usagef("%s: %v", fs.Name(), err)
	}
	rest := fs.Args()
	switch {
	case len(rest) < len(names):
		return nil, usagef("%s: missing %s", fs.Name(), names[len(rest)])
	case len(rest) > len(names):
		extra := rest[len(names)]
		if strings.HasPrefix(extra, "-") {
			return nil, usagef("%s: unexpected argument %q (flags go before the arguments)", fs.Name(), extra)
		}
		return nil, usagef("%s: unexpected argument %q", fs.Name(), extra)
	}
	return rest, nil
}
