package agent

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// TokenFileName is the API token's file in data_dir: made once, mode
// 0600, when the configuration sets no http_token, and used again at every
// start.
const TokenFileName = "http-token"

// RuntimeDirEnv names the variable that overrides the runtime directory
// (RuntimeDirs) for the agent and the vigil commands alike.
const RuntimeDirEnv = "VIGIL_RUNTIME_DIR"

// RuntimeDirs returns the directories, in order, where an agent without
// http_token writes its token for the vigil commands, and where they look
// for it: $VIGIL_RUNTIME_DIR alone when set; otherwise systemd's
// $RUNTIME_DIRECTORY (the unit's RuntimeDirectory=), $XDG_RUNTIME_DIR/vigil,
// /run/vigil, and $TMPDIR/vigil-UID (UID the user's id). The agent writes
// to the first it can keep private (mode 0700, its own), the commands read
// from the first that has the file.
func RuntimeDirs() []string {
	if d := os.Getenv(RuntimeDirEnv); d != "" {
		return []string{d}
	}
	var dirs []string
	if d := os.Getenv("RUNTIME_DIRECTORY"); d != "" {
		// systemd may list several, separated by colons.
		dirs = append(dirs, strings.Split(d, ":")...)
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		dirs = append(dirs, filepath.Join(d, "vigil"))
	}
	dirs = append(dirs, "/run/vigil", filepath.Join(os.TempDir(), "vigil-"+strconv.Itoa(os.Geteuid())))
	return dirs
}

// RuntimeTokenPath is the token file of the agent serving HTTP on port in
// a runtime directory: DIR/http-token-PORT.
func RuntimeTokenPath(dir, port string) string {
	return filepath.Join(dir, "http-token-"+port)
}

// generateToken returns 32 random bytes in unpadded base64url: 43
// characters, no spaces, well over MinHTTPTokenLength.
func generateToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate the API token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// loadOrCreateDataDirToken returns the token kept in dir/http-token,
// creating it (mode 0600) when missing. The file is opened without
// following a link; one that is not a regular file of the agent's user,
// readable by others, or not a valid token is an error.
func loadOrCreateDataDirToken(dir string) (string, error) {
	path := filepath.Join(dir, TokenFileName)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		token, err := generateToken()
		if err != nil {
			return "", err
		}
		if err := writePrivateFile(dir, TokenFileName, token+"\n"); err != nil {
			return "", err
		}
		return token, nil
	case errors.Is(err, syscall.ELOOP):
		return "", fmt.Errorf("data dir %s: %s is a symbolic link: refusing to follow it (remove it; the agent creates its own)", dir, TokenFileName)
	case err != nil:
		return "", fmt.Errorf("data dir %s: %w", dir, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("data dir %s: %w", dir, err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 || (ok && int(sys.Uid) != os.Geteuid()) {
		return "", fmt.Errorf("data dir %s: %s must be a regular file of the agent's user with mode 0600 (it is %s): remove it, and the agent makes a new token", dir, TokenFileName, st.Mode())
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("data dir %s: %w", dir, err)
	}
	token := string(bytes.TrimSpace(b))
	if msg := tokenProblem(token); msg != "" {
		return "", fmt.Errorf("data dir %s: %s: %s: remove it, and the agent makes a new token", dir, TokenFileName, msg)
	}
	return token, nil
}

// tokenProblem says why token can't be an API token, or returns "".
func tokenProblem(token string) string {
	switch {
	case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "it has spaces or control characters"
	case len(token) < MinHTTPTokenLength:
		return fmt.Sprintf("%d characters is too short (at least %d)", len(token), MinHTTPTokenLength)
	}
	return ""
}

// writePrivateFile writes content to dir/name, mode 0600, through a new
// temporary file renamed over it: a link planted at name is replaced,
// never followed.
func writePrivateFile(dir, name, content string) error {
	tmp, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, there is nothing left to remove
	if err := tmp.Chmod(0o600); err == nil {
		_, err = tmp.WriteString(content)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// privateDir creates dir (mode 0700) if needed, and returns an error
// unless it is a directory (not a link) of the agent's user with no
// permission for its group or others, so no other user can read a token
// there or plant a file.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	case st.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s has mode %04o: other users could read the token there (chmod 0700 %s)", dir, st.Mode().Perm(), dir)
	case ok && int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("%s belongs to user %d, not to the agent's user (%d)", dir, sys.Uid, os.Geteuid())
	}
	return nil
}

// prepareToken decides the API token (a.token) in New: http_token when
// set; none with -dev and no http_token (the API is open to local users,
// as its start line says); otherwise a token kept in data_dir/http-token,
// or, without a data dir, a new random one for this run.
func (a *Agent) prepareToken() error {
	switch {
	case a.cfg.HTTPToken != "":
		a.token = a.cfg.HTTPToken
	case a.cfg.Dev:
		a.token = ""
	case a.cfg.DataDir != "":
		token, err := loadOrCreateDataDirToken(a.cfg.DataDir)
		if err != nil {
			return err
		}
		a.token, a.tokenGenerated = token, true
	default:
		token, err := generateToken()
		if err != nil {
			return err
		}
		a.token, a.tokenGenerated = token, true
	}
	return nil
}

// apiAuth says, for the start line, what the API requires.
func (a *Agent) apiAuth() string {
	switch {
	case a.token == "":
		return "none: every local user can make changes and read secrets through the API (-dev without http_token)"
	case a.tokenGenerated:
		return "token made by the agent"
	}
	return "http_token"
}

// publishToken writes a token the agent made (prepareToken) to the first
// private runtime directory (RuntimeDirs) as http-token-PORT, for the
// vigil commands of the agent's user, and returns a function that removes
// it at stop (unless another agent has replaced it since). Without a data
// dir, a token that can be written nowhere is an error: no one could use
// the API's changes.
func (a *Agent) publishToken(ln net.Listener) (remove func(), err error) {
	remove = func() {}
	if !a.tokenGenerated {
		return remove, nil
	}
	_, port, err := net.SplitHostPort(ln.Addr().String())
	if err != nil {
		return remove, fmt.Errorf("api token: %w", err)
	}
	var problems []string
	for _, dir := range RuntimeDirs() {
		if err := privateDir(dir); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		name := filepath.Base(RuntimeTokenPath(dir, port))
		if err := writePrivateFile(dir, name, a.token+"\n"); err != nil {
			problems = append(problems, err.Error())
			continue
		}
		path := RuntimeTokenPath(dir, port)
		ev := a.log.Info().Str("token_file", path)
		if a.cfg.DataDir != "" {
			ev = ev.Str("data_dir_token_file", filepath.Join(a.cfg.DataDir, TokenFileName))
		}
		ev.Msg("API token made by the agent (no http_token set): changes and secrets need it; the vigil commands of this user read it from token_file")
		return func() {
			if b, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(b)) == a.token {
				_ = os.Remove(path)
			}
		}, nil
	}
	if a.cfg.DataDir != "" {
		a.log.Warn().Strs("problems", problems).Str("token_file", filepath.Join(a.cfg.DataDir, TokenFileName)).
			Msg("API token made by the agent: no private runtime directory to publish it in, so the vigil commands need -http-token or $VIGIL_HTTP_TOKEN (the token is in token_file)")
		return remove, nil
	}
	return remove, fmt.Errorf("api token: no http_token is set and the agent made one, but found no private directory to keep it in (%s): set http_token, data_dir or %s", strings.Join(problems, "; "), RuntimeDirEnv)
}
