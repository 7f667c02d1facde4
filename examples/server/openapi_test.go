package main_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docs/openapi.yaml is the HTTP contract in machine-readable form. Every
// exchange of the end-to-end tests is checked against it (checkContract,
// called by (*client).do).

const contractFile = "../../docs/openapi.yaml"

var contract struct {
	once   sync.Once
	doc    *openapi3.T
	router routers.Router
	err    error
}

// loadContract loads and validates the document once. Loading fails on a
// $ref that does not resolve.
func loadContract(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	contract.once.Do(func() {
		loader := openapi3.NewLoader()
		contract.doc, contract.err = loader.LoadFromFile(contractFile)
		if contract.err == nil {
			contract.err = contract.doc.Validate(loader.Context)
		}
		if contract.err == nil {
			// With servers [{url: /}], the router matches any scheme and host.
			contract.router, contract.err = gorillamux.NewRouter(contract.doc)
		}
	})
	require.NoError(t, contract.err, contractFile)
	return contract.doc, contract.router
}

func TestOpenAPIDocument(t *testing.T) {
	doc, _ := loadContract(t)
	assert.Equal(t, "3.0.3", doc.OpenAPI)
	require.NotZero(t, doc.Paths.Len())
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			assert.NotZero(t, op.Responses.Len(), "%s %s has no response", method, path)
			for status, r := range op.Responses.Map() {
				assert.NotNil(t, r.Value, "%s %s %s: $ref %q does not resolve", method, path, status, r.Ref)
			}
			if op.RequestBody != nil {
				assert.NotNil(t, op.RequestBody.Value, "%s %s: $ref %q does not resolve", method, path, op.RequestBody.Ref)
			}
		}
	}

	// The check above can only see what loading left; loading itself is
	// what refuses a dangling $ref anywhere in the document.
	_, err := openapi3.NewLoader().LoadFromData([]byte(`
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /x:
    get:
      responses:
        '200': {$ref: '#/components/responses/Missing'}
`))
	assert.Error(t, err, "a dangling $ref is a load error")
}

// checkContract validates one exchange of the end-to-end tests against the
// document: the response always, and the request when the server accepted
// it (2xx), since a request the server takes must be one the contract
// allows. res.Request is the request as sent, with the cookie jar's cookies.
// Paths the document does not describe (the pages, /static/) are skipped.
func checkContract(t *testing.T, res *http.Response, body []byte) {
	t.Helper()
	doc, router := loadContract(t)
	req := res.Request
	if req.GetBody != nil {
		req.Body, _ = req.GetBody() // the client has read the original
	}
	route, params, err := router.FindRoute(req)
	switch {
	case errors.Is(err, routers.ErrMethodNotAllowed) && req.Method != http.MethodHead:
		// A method the path does not list: the contract's answer is a 405.
		notAllowed := openapi3.NewResponses(openapi3.WithStatus(405, doc.Components.Responses["MethodNotAllowed"]))
		route = &routers.Route{Spec: doc, Method: req.Method, Operation: &openapi3.Operation{Responses: notAllowed}}
	case err != nil:
		return
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus:   true, // a status the operation does not list is an error
		MultiError:              true,
		AuthenticationFunc:      credentialPresent,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()}, // one line per error
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	exchange := fmt.Sprintf("%s %s → %d", req.Method, req.URL.Path, res.StatusCode)
	if res.StatusCode/100 == 2 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s: the server accepted a request that %s does not allow: %v", exchange, contractFile, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out.SetBodyBytes(body)); err != nil {
		t.Errorf("%s: the response does not match %s: %v\n%s", exchange, contractFile, err, body)
	}
}

// credentialPresent checks that a request carries the credential a security
// scheme of the document names: the session cookie or a bearer token.
func credentialPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	req, scheme := in.RequestValidationInput.Request, in.SecurityScheme
	switch {
	case scheme.Type == "apiKey" && scheme.In == "cookie":
		if _, err := req.Cookie(scheme.Name); err == nil {
			return nil
		}
	case scheme.Type == "http" && scheme.Scheme == "bearer":
		if strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ") {
			return nil
		}
	}
	return in.NewError(nil)
}
