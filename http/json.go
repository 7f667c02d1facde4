package mfahttp

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// maxBodyBytes is the largest request body the handlers read (the
// contract's 4 KiB).
const maxBodyBytes = 4 << 10

// Error codes of the JSON error envelope
// {"error": {"code": "…", "message": "…"}}.
const (
	CodeInvalidInput           = "invalid_input"           // 400
	CodeAuthenticationRequired = "authentication_required" // 401
	CodeStepUpRequired         = "mfa_step_up_required"    // 403, from RequireStepUp
	CodeEnrollmentRequired     = "mfa_enrollment_required" // 403, from RequireStepUp
	CodeNotFound               = "not_found"               // 404
	CodeMethodNotAllowed       = "method_not_allowed"      // 405
	CodeConflict               = "conflict"                // 409
	CodeRateLimited            = "rate_limited"            // 429
	CodeInternalError          = "internal_error"          // 500
)

// errBody is why decode refused a request body; its message is safe to
// show the client: it names fields, never quotes values.
type errBody string

func (e errBody) Error() string { return string(e) }

// decode reads the JSON body of r into dst strictly: Content-Type
// application/json, at most maxBodyBytes of one JSON object whose member
// names match dst's fields exactly, none unknown and none given twice,
// and nothing after it. An empty body is allowed when allowEmpty is set and
// leaves dst as it is.
func decode(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) error {
	mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "application/json" {
		return errBody("Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errBody("request body exceeds " + strconv.Itoa(maxBodyBytes) + " bytes")
	case err != nil:
		return errBody("request body could not be read")
	case len(body) == 0 && allowEmpty:
		return nil
	case len(body) == 0:
		return errBody("request body is empty")
	}
	err = json.Unmarshal(body, dst, json.RejectUnknownMembers(true))
	var semantic *json.SemanticError
	var syntactic *jsontext.SyntacticError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntactic) && errors.Is(syntactic.Err, jsontext.ErrDuplicateName):
		return errBody(fmt.Sprintf("field %s is given twice", quoteName(syntactic.JSONPointer.LastToken())))
	case errors.As(err, &semantic) && errors.Is(semantic.Err, json.ErrUnknownName):
		return errBody(fmt.Sprintf("unknown field %s", quoteName(semantic.JSONPointer.LastToken())))
	case errors.As(err, &semantic) && semantic.JSONPointer != "":
		return errBody(fmt.Sprintf("field %s has the wrong type", quoteName(semantic.JSONPointer.LastToken())))
	case errors.As(err, &semantic):
		return errBody("request body must be a JSON object")
	}
	return errBody("request body is not valid JSON")
}

// quoteName quotes a member name for an error message, cut to 64
// characters.
func quoteName(name string) string {
	if r := []rune(name); len(r) > 64 {
		name = string(r[:64]) + "…"
	}
	return strconv.Quote(name)
}

// writeJSON writes v as a JSON response with the given status. Responses
// carry secrets or codes, so none may be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal_error","message":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

type errorEnvelope struct {
	Error errorBody `json:"error"`
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError writes the error envelope with the given status.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, errorEnvelope{errorBody{Code: code, Message: message}})
}
