package main

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// The host's own JSON endpoints read JSON as strictly as the library's:
// the same library with the same options (member names match exactly, a
// name given twice or an unknown name is refused, nothing after the
// value), and answer errors in the same envelope.

const maxBodyBytes = 4 << 10

// decodeJSON reads the JSON body of r into dst. Its error is a message
// for a 400 that names the field, never quoting a value.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return errors.New("Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return fmt.Errorf("request body exceeds %d bytes", maxBodyBytes)
	}
	err = json.Unmarshal(body, dst, json.RejectUnknownMembers(true))
	var semantic *json.SemanticError
	var syntactic *jsontext.SyntacticError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntactic) && errors.Is(syntactic.Err, jsontext.ErrDuplicateName):
		return fmt.Errorf("field %q is given twice", syntactic.JSONPointer.LastToken())
	case errors.As(err, &semantic) && errors.Is(semantic.Err, json.ErrUnknownName):
		return fmt.Errorf("unknown field %q", semantic.JSONPointer.LastToken())
	case errors.As(err, &semantic) && semantic.JSONPointer != "":
		return fmt.Errorf("field %q has the wrong type", semantic.JSONPointer.LastToken())
	}
	return errors.New("request body is not a valid JSON object")
}

// writeJSON writes v as the JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":{"code":"internal_error","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// writeError writes the error envelope.
func writeError(w http.ResponseWriter, status int, code, message string) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, struct {
		Error body `json:"error"`
	}{body{code, message}})
}
