// Package tracing starts the shop's OpenTelemetry tracer provider. Tracing
// is off unless OTEL_EXPORTER_OTLP_ENDPOINT names a collector: then the
// HTTP server, the PostgreSQL pool and the Redis round trips make spans
// (see internal/app and handlers.Traced), and this package exports them
// over OTLP/HTTP in batches.
package tracing

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/the-shop/shop/internal/config"
)

// Start returns the tracer provider cfg asks for, or nil when tracing is
// off (no OTEL_EXPORTER_OTLP_ENDPOINT). The caller must Shutdown it, which
// flushes the spans not yet exported. Nothing is sent at start: a
// collector that is down loses spans, never requests.
func Start(ctx context.Context, cfg config.Config) (*sdktrace.TracerProvider, error) {
	if cfg.OTLPEndpoint == "" {
		return nil, nil
	}
	// OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: the traces go to its
	// /v1/traces, as the specification says and the SDK does when it
	// reads the variable itself.
	u, err := url.Parse(cfg.OTLPEndpoint)
	if err != nil {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	u = u.JoinPath("v1", "traces")
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		attribute.String("service.name", cfg.OTELServiceName),
		attribute.String("service.instance.id", cfg.ReplicaName),
	))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	// The sampler is the SDK's: OTEL_TRACES_SAMPLER, by default every
	// request unless the caller's traceparent says it is not sampled.
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}
