// Package tracing sets up optional OpenTelemetry tracing: spans for every
// HTTP request modvault serves and every request it makes upstream,
// exported over OTLP/HTTP. It installs nothing globally: the tracer
// provider is passed to the instrumentation explicitly.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Tracer exports spans to an OTLP/HTTP collector.
type Tracer struct {
	provider *sdktrace.TracerProvider
}

// New returns a Tracer that exports to endpoint, the base URL of an
// OTLP/HTTP collector ("http://otel-collector:4318"; spans go to
// /v1/traces), in batches, naming the service "modvault" at version.
func New(ctx context.Context, endpoint, version string) (*Tracer, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("OTLP endpoint %q: want http:// or https://host:port", endpoint)
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.JoinPath("/v1/traces").String())}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("OTLP exporter: %w", err)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", "modvault"),
		attribute.String("service.version", version),
	)
	return &Tracer{provider: sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))}, nil
}

// Handler traces every request served by next, continuing a trace the
// client started (W3C traceparent). Spans are named after the route kind
// given by name (for example "zip"), never the module path, to keep their
// number bounded; the path is an attribute.
func (t *Tracer) Handler(next http.Handler, name func(*http.Request) string) http.Handler {
	return otelhttp.NewHandler(next, "modvault",
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + name(r) }),
	)
}

// Transport traces every request made through base (nil means
// http.DefaultTransport) as a client span, and sends the trace context on.
func (t *Tracer) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "upstream " + r.Method }),
	)
}

// Provider returns the tracer provider, for code that makes its own spans.
func (t *Tracer) Provider() trace.TracerProvider { return t.provider }

// Shutdown flushes the spans not yet exported and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("flushing traces: %w", err)
	}
	return nil
}
