package main

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	mfahttp "github.com/identsphere/mfa/http"
)

// codeForbidden is the error code of a request refused for its Host or
// Origin.
const codeForbidden = "forbidden"

// origins is the set of web origins the host serves, from -origin.
type origins struct {
	list  []string        // as configured, normalised
	hosts map[string]bool // what the Host header may say
}

// parseOrigins reads -origin: comma-separated origins such as
// "https://app.example.com" (scheme, host and port; nothing else). A
// default port is dropped, as browsers do in the Origin header.
func parseOrigins(list string) (*origins, error) {
	o := &origins{hosts: map[string]bool{}}
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("-origin: %q is not an origin such as https://app.example.com or http://localhost:8080", s)
		}
		host := strings.ToLower(u.Host)
		defaultPort := map[string]string{"http": "80", "https": "443"}[u.Scheme]
		if u.Port() == defaultPort {
			host = strings.TrimSuffix(host, ":"+defaultPort)
		}
		o.list = append(o.list, u.Scheme+"://"+host)
		o.hosts[host] = true
		if u.Port() == "" || u.Port() == defaultPort {
			o.hosts[host+":"+defaultPort] = true
		}
	}
	if len(o.list) == 0 {
		return nil, fmt.Errorf("-origin: no origin given")
	}
	return o, nil
}

// defaultOrigins are the origins of a host listening on addr (the actual
// address, port 0 resolved): http://addr and http://localhost:port.
func defaultOrigins(addr net.Addr) string {
	_, port, _ := net.SplitHostPort(addr.String())
	return "http://" + addr.String() + ",http://localhost:" + port
}

func (o *origins) allowed(origin string) bool {
	for _, s := range o.list {
		if origin == s {
			return true
		}
	}
	return false
}

// guard refuses, with 403 forbidden:
//
//   - every request whose Host header is not one of the configured hosts:
//     a page of another site that a DNS rebinding attack points at this
//     server's address never gets an answer;
//   - every state-changing request (any method but GET, HEAD and OPTIONS)
//     whose Origin header is not a configured origin, or which a browser
//     marks as coming from another site (Sec-Fetch-Site) when it sends no
//     Origin.
//
// The request's own Host header is never what Origin is compared with:
// under DNS rebinding both name the attacker's site. With SameSite=Lax
// cookies and a JSON-only API this makes cookie-authenticated changes
// CSRF-safe. Clients that are not browsers send no Origin and pass.
func (o *origins) guard(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !o.hosts[strings.ToLower(r.Host)] {
			logger.WarnContext(r.Context(), "request for a host this server does not serve", "host", r.Host, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, codeForbidden, "this server does not serve that host name")
			return
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			origin, hasOrigin := r.Header["Origin"]
			site := r.Header.Get("Sec-Fetch-Site")
			if (hasOrigin && !o.allowed(strings.Join(origin, ","))) || (!hasOrigin && site != "" && site != "same-origin" && site != "none") {
				logger.WarnContext(r.Context(), "cross-origin request refused", "origin", strings.Join(origin, ","), "path", r.URL.Path)
				writeError(w, http.StatusForbidden, codeForbidden, "cross-origin request refused")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every answer carries: a strict content
// security policy (no inline script or style), no MIME sniffing, no
// referrer.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// recoverJSON answers a handler's panic with the JSON 500 envelope and
// logs it, instead of net/http's dropped connection.
func recoverJSON(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.ErrorContext(r.Context(), "handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v))
			writeError(w, http.StatusInternalServerError, mfahttp.CodeInternalError, "internal error")
		}()
		next.ServeHTTP(w, r)
	})
}

// hostRoutes registers the host's own routes on a ServeMux so that every
// error is the JSON envelope: a known path asked with another method gets
// 405 with Allow (ServeMux's own 405 is plain text), and an unknown path
// 404.
type hostRoutes struct {
	mux *http.ServeMux
}

// handle serves method on pattern (a ServeMux path pattern without a
// method); GET serves HEAD too.
func (hr hostRoutes) handle(method, pattern string, h http.Handler) {
	hr.mux.Handle(method+" "+pattern, h)
	allow := method
	if method == http.MethodGet {
		allow = "GET, HEAD"
	}
	hr.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, mfahttp.CodeMethodNotAllowed, "method "+r.Method+" is not allowed here; use "+method)
	})
}

// notFound answers every path no route serves.
func (hr hostRoutes) notFound() {
	hr.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, mfahttp.CodeNotFound, "no such page")
	})
}

// staticFiles serves the regular files of fsys below the request path's
// prefix ("/static/"): a directory, and anything else, is a JSON 404, so
// there are no directory listings.
func staticFiles(fsys fs.FS, prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, prefix)
		if fs.ValidPath(name) {
			if info, err := fs.Stat(fsys, name); err == nil && info.Mode().IsRegular() {
				http.ServeFileFS(w, r, fsys, name)
				return
			}
		}
		writeError(w, http.StatusNotFound, mfahttp.CodeNotFound, "no such file")
	})
}
