package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/the-shop/shop/internal/config"
	"github.com/the-shop/shop/internal/testenv"
)

// openAPIDoc is the API's description, relative to this package.
const openAPIDoc = "../docs/openapi.yaml"

// apiSpec checks exchanges with the shop against docs/openapi.yaml.
type apiSpec struct {
	doc    *openapi3.T
	router routers.Router
}

// loadAPISpec loads and validates the OpenAPI document, serving it at base
// (the test shop's address) instead of the servers it names.
func loadAPISpec(t *testing.T, base string) *apiSpec {
	t.Helper()
	ctx := context.Background()
	doc, err := openapi3.NewLoader().LoadFromFile(openAPIDoc)
	if err != nil {
		t.Fatalf("load %s: %v", openAPIDoc, err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("%s is OpenAPI %s, want 3.1", openAPIDoc, doc.OpenAPI)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", openAPIDoc, err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &apiSpec{doc: doc, router: router}
}

// exchange is one API request and what the test expects of it.
type exchange struct {
	method, path string
	token        string // sent as a bearer token when set
	contentType  string // application/json when empty and body is set
	body         string
	idemKey      string
	// invalid says the request breaks the document on purpose (no token,
	// a quantity of 0): the validator must refuse it, and the shop's
	// answer must still match the document.
	invalid bool
	status  int
	code    string // the error code, for an error status
}

// do sends e to the shop, checks the request against the document (valid,
// or refused when e.invalid), checks the response against the document
// and e's status and code, and returns the response body.
func (a *apiSpec) do(t *testing.T, base string, e exchange) []byte {
	t.Helper()
	ctx := context.Background()
	req, err := http.NewRequest(e.method, base+e.path, strings.NewReader(e.body))
	if err != nil {
		t.Fatal(err)
	}
	if e.body != "" {
		ct := e.contentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	if e.idemKey != "" {
		req.Header.Set("Idempotency-Key", e.idemKey)
	}

	route, params, err := a.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: not in %s: %v", e.method, e.path, openAPIDoc, err)
	}
	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true, // a status the document does not list is an error
			MultiError:            true,
			AuthenticationFunc:    bearerPresent,
		},
	}
	// The validator reads the body; send the same bytes afterwards.
	err = openapi3filter.ValidateRequest(ctx, in)
	switch {
	case e.invalid && err == nil:
		t.Errorf("%s %s: the document accepts a request that should break it", e.method, e.path)
	case !e.invalid && err != nil:
		t.Errorf("%s %s: request does not match the document: %v", e.method, e.path, err)
	}
	req.Body = io.NopCloser(strings.NewReader(e.body))

	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != e.status {
		t.Fatalf("%s %s: status %d, want %d: %s", e.method, e.path, res.StatusCode, e.status, body)
	}
	if err := a.validateResponse(in, res.StatusCode, res.Header, body); err != nil {
		t.Errorf("%s %s: %d response does not match the document: %v\n%s", e.method, e.path, res.StatusCode, err, body)
	}
	if e.code != "" {
		var ej errorJSON
		if err := json.Unmarshal(body, &ej); err != nil || ej.Error.Code != e.code {
			t.Errorf("%s %s: error %s, want code %q", e.method, e.path, body, e.code)
		}
	}
	if len(res.Cookies()) != 0 {
		t.Errorf("%s %s: the API set a cookie: %v", e.method, e.path, res.Header.Values("Set-Cookie"))
	}
	return body
}

func (a *apiSpec) validateResponse(in *openapi3filter.RequestValidationInput, status int, h http.Header, body []byte) error {
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 h,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                in.Options,
	})
}

// bearerPresent is the document's security check: the request carries a
// bearer token. Whether the token is good is the shop's to decide (and
// its 401 is itself checked against the document).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	auth := in.RequestValidationInput.Request.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "Bearer ") || len(auth) == len("Bearer ") {
		return errors.New("no bearer token")
	}
	return nil
}

// TestOpenAPI drives the JSON API of a real shop, on each store, through
// its answers and errors, and checks every request and response against
// docs/openapi.yaml (OpenAPI 3.1, JSON Schema 2020-12).
func TestOpenAPI(t *testing.T) {
	onEachStore(t, func(t *testing.T, s *shop, _ config.Kind) {
		spec := loadAPISpec(t, s.URL)
		email := testenv.RandomName("oas") + "@example.com"
		newClient(t).signup(t, s.URL, email, "openapi password")
		creds := `{"email":"` + email + `","password":"openapi password"}`

		var token string
		t.Run("IssuesAToken", func(t *testing.T) {
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			body := spec.do(t, s.URL, exchange{method: "POST", path: "/api/v1/tokens", body: creds, status: http.StatusOK})
			if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" {
				t.Fatalf("no access token in %s", body)
			}
			token = tok.AccessToken
		})
		if token == "" {
			t.FailNow()
		}

		for _, tc := range []struct {
			name string
			exchange
		}{
			{"TokenRefusesAWrongPassword", exchange{method: "POST", path: "/api/v1/tokens",
				body: `{"email":"` + email + `","password":"wrong password"}`, status: 401, code: "invalid_credentials"}},
			{"TokenRefusesEmptyCredentials", exchange{method: "POST", path: "/api/v1/tokens",
				body: `{"email":"","password":""}`, invalid: true, status: 422, code: "invalid_login"}},
			{"TokenRefusesAFormBody", exchange{method: "POST", path: "/api/v1/tokens", contentType: "application/x-www-form-urlencoded",
				body: "email=a%40example.com&password=x", invalid: true, status: 415, code: "unsupported_media_type"}},
			{"TokenRefusesMalformedJSON", exchange{method: "POST", path: "/api/v1/tokens",
				body: `{"email":`, invalid: true, status: 400, code: "bad_request"}},
			{"EmptyCart", exchange{method: "GET", path: "/api/v1/cart", token: token, status: 200}},
			{"CartNeedsAToken", exchange{method: "GET", path: "/api/v1/cart", invalid: true, status: 401, code: "missing_token"}},
			{"CartRefusesABadToken", exchange{method: "GET", path: "/api/v1/cart", token: "not.a.token", status: 401, code: "invalid_token"}},
			{"AddsWithNumbers", exchange{method: "POST", path: "/api/v1/cart/items", token: token,
				body: `{"product_id":1,"quantity":2}`, status: 200}},
			{"AddsWithStringsAndDefaultQuantity", exchange{method: "POST", path: "/api/v1/cart/items", token: token,
				body: `{"product_id":"3"}`, idemKey: "openapi-add-0001", status: 200}},
			{"RetryWithTheSameKeyAnswersTheCart", exchange{method: "POST", path: "/api/v1/cart/items", token: token,
				body: `{"product_id":"3"}`, idemKey: "openapi-add-0001", status: 200}},
			{"AddRefusesAnUnknownProduct", exchange{method: "POST", path: "/api/v1/cart/items", token: token,
				body: `{"product_id":999,"quantity":1}`, status: 422, code: "unknown_product"}},
			{"AddRefusesQuantityZero", exchange{method: "POST", path: "/api/v1/cart/items", token: token,
				body: `{"product_id":1,"quantity":0}`, invalid: true, status: 422, code: "invalid_quantity"}},
			{"AddRefusesABadIdempotencyKey", exchange{method: "POST", path: "/api/v1/cart/items", token: token,
				body: `{"product_id":1}`, idemKey: "bad key!", invalid: true, status: 422, code: "invalid_idempotency_key"}},
			{"AddRefusesAFormBody", exchange{method: "POST", path: "/api/v1/cart/items", token: token, contentType: "application/x-www-form-urlencoded",
				body: "product_id=1", invalid: true, status: 415, code: "unsupported_media_type"}},
			{"AddNeedsAToken", exchange{method: "POST", path: "/api/v1/cart/items",
				body: `{"product_id":1}`, invalid: true, status: 401, code: "missing_token"}},
		} {
			t.Run(tc.name, func(t *testing.T) { spec.do(t, s.URL, tc.exchange) })
		}

		t.Run("CartHoldsWhatWasAdded", func(t *testing.T) {
			var v testenv.Cart
			body := spec.do(t, s.URL, exchange{method: "GET", path: "/api/v1/cart", token: token, status: 200})
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			if got := v.Quantities(); len(got) != 2 || got["1"] != 2 || got["3"] != 1 {
				t.Errorf("cart = %v, want 1:2 and 3:1 (the retry added nothing)", got)
			}
		})

		t.Run("PausedLoginsAre429", func(t *testing.T) {
			other := testenv.RandomName("oasp") + "@example.com"
			newClient(t).signup(t, s.URL, other, "paused password")
			wrong := exchange{method: "POST", path: "/api/v1/tokens",
				body: `{"email":"` + other + `","password":"wrong password"}`, status: 401, code: "invalid_credentials"}
			for range 5 { // LOGIN_MAX_FAILURES
				spec.do(t, s.URL, wrong)
			}
			wrong.status, wrong.code = http.StatusTooManyRequests, "too_many_login_failures"
			spec.do(t, s.URL, wrong)
		})
	})
}

// TestOpenAPIValidatorCatchesDrift: the check in TestOpenAPI can fail. Real
// answers pass, and the same answers with an id as a number, an extra
// field, an error without a message, or a token_type other than the
// document's const (a JSON Schema 2020-12 keyword, so 3.1 validation is on)
// do not.
func TestOpenAPIValidatorCatchesDrift(t *testing.T) {
	spec := loadAPISpec(t, "http://shop.test")
	input := func(method, path string) *openapi3filter.RequestValidationInput {
		t.Helper()
		req, err := http.NewRequest(method, "http://shop.test"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		route, params, err := spec.router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		return &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: bearerPresent}}
	}
	cart, tokens := input(http.MethodGet, "/api/v1/cart"), input(http.MethodPost, "/api/v1/tokens")
	jsonCT := http.Header{"Content-Type": {"application/json"}}
	challenge := http.Header{"Content-Type": {"application/json"}, "Www-Authenticate": {`Bearer realm="the-shop"`}}
	for _, tc := range []struct {
		name   string
		in     *openapi3filter.RequestValidationInput
		status int
		header http.Header
		body   string
		ok     bool
	}{
		{"CartMatches", cart, 200, jsonCT, `{"items":[{"product_id":"1","name":"Mug","quantity":2,"unit_price_cents":1800,"line_total_cents":3600}],"count":2,"total_cents":3600}`, true},
		{"IDAsANumber", cart, 200, jsonCT, `{"items":[{"product_id":1,"name":"Mug","quantity":2,"unit_price_cents":1800,"line_total_cents":3600}],"count":2,"total_cents":3600}`, false},
		{"ExtraField", cart, 200, jsonCT, `{"items":[],"count":0,"total_cents":0,"token":"x"}`, false},
		{"MissingCount", cart, 200, jsonCT, `{"items":[],"total_cents":0}`, false},
		{"ErrorMatches", cart, 401, challenge, `{"error":{"code":"missing_token","message":"Get a token."}}`, true},
		{"ErrorWithoutMessage", cart, 401, challenge, `{"error":{"code":"missing_token"}}`, false},
		{"ErrorWithoutChallenge", cart, 401, jsonCT, `{"error":{"code":"missing_token","message":"Get a token."}}`, false},
		{"UndocumentedStatus", cart, 418, jsonCT, `{"error":{"code":"teapot","message":"No."}}`, false},
		{"TokenMatches", tokens, 200, jsonCT, `{"access_token":"a.b.c","token_type":"Bearer","expires_in":900}`, true},
		{"TokenTypeNotTheConst", tokens, 200, jsonCT, `{"access_token":"a.b.c","token_type":"bearer","expires_in":900}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := spec.validateResponse(tc.in, tc.status, tc.header, []byte(tc.body))
			if tc.ok && err != nil {
				t.Errorf("a matching response is refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("a response that breaks the document passes")
			}
		})
	}
}
