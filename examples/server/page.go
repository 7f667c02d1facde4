package main

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed web
var webFiles embed.FS

// webStatic holds the files served under /static/.
var webStatic = mustSub(webFiles, "web/static")

var pageTemplate = template.Must(template.ParseFS(webFiles, "web/index.html"))

// page serves the single HTML page; app.js switches between its views
// (sign in, challenge, account) by asking the API.
func (a *app) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTemplate.Execute(w, struct{ Issuer string }{a.issuer}); err != nil {
		a.logger.ErrorContext(r.Context(), "rendering page", "err", err)
	}
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
