package mfahttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// MaxBodyBytes is the largest request body the handlers read.
const MaxBodyBytes = 4 << 10

// Error codes of the JSON error envelope.
const (
	CodeInvalidInput           = "invalid_input"
	CodeAuthenticationRequired = "authentication_required"
	CodeNotFound               = "not_found"
	CodeConflict               = "conflict"
	CodeRateLimited            = "rate_limited"
	CodeInternalError          = "internal_error"
)

// BodyError is why DecodeJSON refused a request body. Its message is safe to
// show the client: it never quotes the body.
type BodyError struct {
	Message string
}

func (e *BodyError) Error() string { return "mfahttp: " + e.Message }

// DecodeJSON decodes the body of r into dst the way every handler of this
// package does: the Content-Type must be application/json (parameters such
// as charset allowed), the body at most MaxBodyBytes of one JSON value with
// no unknown fields and nothing after it. An empty body is allowed only when
// allowEmpty is set, and leaves dst as it is. The error is a *BodyError. Hosts
// may use it for their own endpoints.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return &BodyError{"Content-Type must be application/json"}
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var tooLarge *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			return &BodyError{"request body exceeds " + strconv.Itoa(MaxBodyBytes) + " bytes"}
		case err == io.EOF && allowEmpty:
			return nil
		case err == io.EOF:
			return &BodyError{"request body is empty"}
		case errors.As(err, &typeErr):
			return &BodyError{"field " + strconv.Quote(typeErr.Field) + " has the wrong type"}
		case isUnknownField(err):
			return &BodyError{"request body has an unknown field"}
		}
		return &BodyError{"request body is not valid JSON"}
	}
	switch _, err := dec.Token(); {
	case err == io.EOF:
		return nil
	case errors.As(err, new(*http.MaxBytesError)):
		return &BodyError{"request body exceeds " + strconv.Itoa(MaxBodyBytes) + " bytes"}
	}
	return &BodyError{"request body has data after the JSON object"}
}

// isUnknownField reports the error encoding/json returns for a field
// DisallowUnknownFields refuses; it has no type of its own.
func isUnknownField(err error) bool {
	const prefix = "json: unknown field "
	return len(err.Error()) > len(prefix) && err.Error()[:len(prefix)] == prefix
}

// WriteJSON writes v as a JSON response with the given status. Responses
// that carry secrets or codes are marked not to be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // otpauth URLs keep their '&'
	if err := enc.Encode(v); err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternalError, "internal error")
		return
	}
	writeBody(w, status, buf.Bytes())
}

// WriteError writes the error envelope
// {"error": {"code": code, "message": message}} with the given status.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	body := make([]byte, 0, 64+len(message))
	body = append(body, `{"error":{"code":`...)
	body = strconv.AppendQuote(body, code)
	body = append(body, `,"message":`...)
	body, _ = appendJSONString(body, message)
	body = append(body, "}}\n"...)
	writeBody(w, status, body)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Cache-Control"] = []string{"no-store"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}
