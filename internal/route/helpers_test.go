package route_test

import (
	"net/http"

	"github.com/modvault/modvault/internal/route"
)

// httptestHandler returns a handler that passes the route of each request
// (route.Of) to seen.
func httptestHandler(seen func(route.Route)) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen(route.Of(r)) })
}
