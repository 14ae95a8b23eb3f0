// Package vonage owns everything verify-proxy knows about Vonage: the shared transport (transport/),
// the Verify v1 and v2 wire clients (verifyv1/, verifyv2/), their HTTP fakes for tests (v1test,
// v2test, on vonagetest's scaffolding), and New, which builds the client the configuration names.
// Nothing outside this folder knows a Vonage URL path, form field, JSON field or wire status.
package vonage

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/vonage/transport"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv1"
	"github.com/verify-proxy/verify-proxy/internal/vonage/verifyv2"
)

// New builds the Verify client that VONAGE_VERIFY_API names, from a configuration that config.Load
// has accepted, with one pooled http.Client sized for one upstream.
func New(cfg config.Config, logger *slog.Logger) (verify.Provider, error) {
	httpClient := transport.NewHTTPClient(cfg.UpstreamTimeout)
	if cfg.VerifyAPI == config.APIv2 {
		return newV2(cfg, httpClient, logger)
	}
	client, err := verifyv1.New(verifyv1.Options{
		BaseURL:       cfg.VonageBaseURL,
		APIKey:        cfg.VonageAPIKey,
		APISecret:     cfg.VonageAPISecret,
		Brand:         cfg.Brand,
		CodeLength:    cfg.CodeLength,
		Locale:        cfg.Locale,
		WorkflowID:    cfg.WorkflowID,
		PinExpiry:     cfg.PinExpiry.Whole(),
		NextEventWait: cfg.NextEventWait.Whole(),
		SenderID:      cfg.SenderID,
		Timeout:       cfg.UpstreamTimeout,
	}, httpClient, logger)
	if err != nil {
		return nil, fmt.Errorf("vonage backend: %w", err)
	}
	return client, nil
}

// newV2 builds the Verify v2 client.
func newV2(cfg config.Config, httpClient *http.Client, logger *slog.Logger) (verify.Provider, error) {
	auth, err := newV2Auth(cfg)
	if err != nil {
		return nil, err
	}
	workflow := make([]verifyv2.Channel, len(cfg.Workflow))
	for i, name := range cfg.Workflow {
		ch := verifyv2.Channel{Name: name}
		switch name {
		case verifyv2.ChannelSMS:
			ch.From, ch.AppHash = cfg.SenderID, cfg.SMSAppHash
		case verifyv2.ChannelWhatsApp:
			ch.From = cfg.WhatsAppFrom
		}
		workflow[i] = ch
	}
	client, err := verifyv2.New(verifyv2.Options{
		BaseURL:        cfg.VonageBaseURL,
		Auth:           auth,
		Brand:          cfg.Brand,
		Workflow:       workflow,
		CodeLength:     cfg.CodeLength,
		Locale:         cfg.Locale,
		ChannelTimeout: cfg.ChannelTimeout.Whole(),
		Timeout:        cfg.UpstreamTimeout,
	}, httpClient, logger)
	if err != nil {
		return nil, fmt.Errorf("vonage v2 backend: %w", err)
	}
	authName := "basic"
	if cfg.UsesJWT() {
		authName = "application jwt"
	}
	logger.Info("Verify API v2", "auth", authName, "workflow", strings.Join(cfg.Workflow, ","))
	return client, nil
}

// newV2Auth picks the application JWT when it is configured (it is what Vonage recommends for v2)
// and HTTP Basic otherwise. Errors name the variable, never the key.
func newV2Auth(cfg config.Config) (verifyv2.Authenticator, error) {
	if !cfg.UsesJWT() {
		return verifyv2.NewBasicAuth(cfg.VonageAPIKey, cfg.VonageAPISecret)
	}
	key, source := []byte(cfg.VonagePrivateKey), "VONAGE_PRIVATE_KEY"
	if cfg.VonagePrivateKeyPath != "" {
		b, err := os.ReadFile(cfg.VonagePrivateKeyPath)
		if err != nil {
			return nil, fmt.Errorf("VONAGE_PRIVATE_KEY_PATH: %w", err)
		}
		key, source = b, "VONAGE_PRIVATE_KEY_PATH"
	}
	auth, err := verifyv2.NewJWTAuth(cfg.VonageApplicationID, key, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return auth, nil
}
