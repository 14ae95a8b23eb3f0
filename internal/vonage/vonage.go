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
	httpClient := transport.NewHTTPClient(cfg.Vonage.UpstreamTimeout)
	endpoint := transport.Endpoint{BaseURL: cfg.Vonage.BaseURL, Timeout: cfg.Vonage.UpstreamTimeout}
	if cfg.Verify.API == config.APIv2 {
		return newV2(cfg, endpoint, httpClient, logger)
	}
	client, err := verifyv1.New(verifyv1.Options{
		Endpoint:      endpoint,
		APIKey:        cfg.Vonage.APIKey,
		APISecret:     cfg.Vonage.APISecret,
		Brand:         cfg.Verify.Brand,
		CodeLength:    cfg.Verify.CodeLength,
		Locale:        cfg.Verify.Locale,
		WorkflowID:    cfg.VonageV1.WorkflowID,
		PinExpiry:     cfg.VonageV1.PinExpiry.Whole(),
		NextEventWait: cfg.VonageV1.NextEventWait.Whole(),
		SenderID:      cfg.Verify.SenderID,
	}, httpClient, logger)
	if err != nil {
		return nil, fmt.Errorf("vonage backend: %w", err)
	}
	return client, nil
}

// newV2 builds the Verify v2 client.
func newV2(cfg config.Config, endpoint transport.Endpoint, httpClient *http.Client, logger *slog.Logger) (verify.Provider, error) {
	auth, err := newV2Auth(cfg)
	if err != nil {
		return nil, err
	}
	workflow := make([]verifyv2.Channel, len(cfg.VonageV2.Workflow))
	for i, name := range cfg.VonageV2.Workflow {
		ch := verifyv2.Channel{Name: name}
		switch name {
		case verifyv2.ChannelSMS:
			ch.From, ch.AppHash = cfg.Verify.SenderID, cfg.VonageV2.SMSAppHash
		case verifyv2.ChannelWhatsApp:
			ch.From = cfg.VonageV2.WhatsAppFrom
		case verifyv2.ChannelSilentAuth:
			ch.RedirectURL = cfg.VonageV2.SilentAuthRedirectURL
		}
		workflow[i] = ch
	}
	client, err := verifyv2.New(verifyv2.Options{
		Endpoint:       endpoint,
		Auth:           auth,
		Brand:          cfg.Verify.Brand,
		Workflow:       workflow,
		CodeLength:     cfg.Verify.CodeLength,
		Locale:         cfg.Verify.Locale,
		ChannelTimeout: cfg.VonageV2.ChannelTimeout.Whole(),
		NoFraudCheck:   !cfg.VonageV2.FraudCheck,
	}, httpClient, logger)
	if err != nil {
		return nil, fmt.Errorf("vonage v2 backend: %w", err)
	}
	authName := "basic"
	if cfg.Vonage.UsesJWT() {
		authName = "application jwt"
	}
	logger.Info("Verify API v2", "auth", authName, "workflow", strings.Join(cfg.VonageV2.Workflow, ","))
	return client, nil
}

// newV2Auth picks the application JWT when it is configured (it is what Vonage recommends for v2)
// and HTTP Basic otherwise. Errors name the variable, never the key.
func newV2Auth(cfg config.Config) (verifyv2.Authenticator, error) {
	if !cfg.Vonage.UsesJWT() {
		return verifyv2.NewBasicAuth(cfg.Vonage.APIKey, cfg.Vonage.APISecret)
	}
	key, source := []byte(cfg.Vonage.PrivateKey), "VONAGE_PRIVATE_KEY"
	if cfg.Vonage.PrivateKeyPath != "" {
		b, err := os.ReadFile(cfg.Vonage.PrivateKeyPath)
		if err != nil {
			return nil, fmt.Errorf("VONAGE_PRIVATE_KEY_PATH: %w", err)
		}
		key, source = b, "VONAGE_PRIVATE_KEY_PATH"
	}
	auth, err := verifyv2.NewJWTAuth(cfg.Vonage.ApplicationID, key, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return auth, nil
}
