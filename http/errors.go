package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// decodeBody reads r's body, at most MaxBodyBytes, as exactly one JSON
// object into dst, rejecting unknown fields. Its errors are *apiError.
func decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// Anything but whitespace after the object is an error, as is a body
	// that goes over the limit after the object.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return badRequest("request body has data after the JSON object")
	default:
		if ae := tooLarge(err); ae != nil {
			return ae
		}
		return badRequest("request body has data after the JSON object")
	}
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
