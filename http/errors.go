package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxBodyBytes is the largest request body the API reads; a larger one is
// answered 413.
const MaxBodyBytes = 1 << 20

// ErrorResponse is the body of every error the API answers.
type ErrorResponse struct {
	// Error says what went wrong.
	Error string `json:"error"`
}

// apiError is an error with the HTTP status it should be answered with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// writeJSON answers status with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only a bug can get here: every type the API encodes is plain data.
		status = http.StatusInternalServerError
		body, _ = json.Marshal(ErrorResponse{Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeError answers status with {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg})
}

// writeAPIError answers err: with its own status for an *apiError, 500
// otherwise.
func writeAPIError(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

// bodyReadTimeout bounds reading one request body. The server has no
// ReadTimeout (the event stream is a response that never ends), so without
// it a client trickling a body a byte at a time would hold its connection
// and handler forever. A variable so tests can shorten it.
var bodyReadTimeout = 10 * time.Second

// readBody reads r's whole body, at most MaxBodyBytes, within
// bodyReadTimeout. A body that declares or turns out to be larger is a
// 413 (one that declares it is refused unread), one that takes too long a
// 408, and one that is not valid UTF-8 a 400: encoding/json would
// silently turn its bad bytes into U+FFFD. Its errors are *apiError.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
	}
	// Writers without deadlines (httptest.ResponseRecorder) answer
	// ErrNotSupported: nothing to bound there. The deadline is lifted once
	// the body is in: net/http may already be reading the connection in
	// the background (always, with no body), and a deadline left set would
	// cancel the request while the handler works. A failed read leaves it,
	// so net/http does not wait to discard the rest of the body and closes
	// the connection after the answer instead.
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(bodyReadTimeout)) == nil
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	switch {
	case err == nil:
		if deadline {
			_ = rc.SetReadDeadline(time.Time{})
		}
	case tooLarge(err) != nil:
		return nil, tooLarge(err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &apiError{status: http.StatusRequestTimeout,
			msg: fmt.Sprintf("request body not received within %s", bodyReadTimeout)}
	default:
		return nil, badRequest("read request body: %v", err)
	}
	if !utf8.Valid(body) {
		return nil, badRequest("request body is not valid UTF-8 (JSON must be): bad byte at offset %d", invalidUTF8At(body))
	}
	return body, nil
}

// invalidUTF8At returns the offset of the first byte of body that is not
// valid UTF-8.
func invalidUTF8At(body []byte) int {
	for i := 0; i < len(body); {
		r, n := utf8.DecodeRune(body[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(body)
}

// decodeBody reads r's body (see readBody) as exactly one JSON object
// into dst, rejecting unknown fields. Its errors are *apiError.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	return decodeJSON(body, dst)
}

// decodeJSON decodes body as exactly one JSON object into dst, rejecting
// unknown fields. Its errors are *apiError.
func decodeJSON(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// Anything but whitespace after the object is an error.
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return badRequest("request body has data after the JSON object")
	}
	return nil
}

func tooLarge(err error) *apiError {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &apiError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
	}
	return nil
}

// decodeError turns a json.Decoder error into a message naming the problem.
func decodeError(err error) *apiError {
	if ae := tooLarge(err); ae != nil {
		return ae
	}
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty; want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON in request body: unexpected end of input")
	case errors.As(err, &syntaxErr):
		return badRequest("malformed JSON in request body at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return badRequest("request body must be a JSON object, not %s", typeErr.Value)
		}
		return badRequest("field %q must be %s, not %s", typeErr.Field, jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown field %s in request body", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return badRequest("malformed JSON in request body: %s", err.Error())
	}
}

// jsonTypeName names a Go kind the way a JSON user thinks of it.
func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	default:
		return "a number"
	}
}
