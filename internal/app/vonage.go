package app

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/verify-proxy/verify-proxy/internal/config"
	"github.com/verify-proxy/verify-proxy/internal/verify"
	"github.com/verify-proxy/verify-proxy/internal/verify/upstream"
	"github.com/verify-proxy/verify-proxy/internal/verify/vonagev2"
)

// newVonageV2 builds the Verify v2 client from a configuration that config.Validate has accepted.
func newVonageV2(cfg config.Config, logger *slog.Logger) (verify.Provider, error) {
	auth, err := newV2Auth(cfg)
	if err != nil {
		return nil, err
	}
	workflow := make([]vonagev2.Channel, len(cfg.Workflow))
	for i, name := range cfg.Workflow {
		ch := vonagev2.Channel{Name: name}
		switch name {
		case config.ChannelSMS:
			ch.From, ch.AppHash = cfg.SenderID, cfg.SMSAppHash
		case config.ChannelWhatsApp:
			ch.From = cfg.WhatsAppFrom
		}
		workflow[i] = ch
	}
	client, err := vonagev2.New(vonagev2.Options{
		BaseURL:        cfg.VonageBaseURL,
		Auth:           auth,
		Brand:          cfg.Brand,
		Workflow:       workflow,
		CodeLength:     cfg.CodeLength,
		Locale:         cfg.Locale,
		ChannelTimeout: cfg.ChannelTimeout.Whole(),
		Timeout:        cfg.UpstreamTimeout,
	}, upstream.NewHTTPClient(cfg.UpstreamTimeout), logger)
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
func newV2Auth(cfg config.Config) (vonagev2.Authenticator, error) {
	if !cfg.UsesJWT() {
		return vonagev2.NewBasicAuth(cfg.VonageAPIKey, cfg.VonageAPISecret)
	}
	key, source := []byte(cfg.VonagePrivateKey), "VONAGE_PRIVATE_KEY"
	if cfg.VonagePrivateKeyPath != "" {
		b, err := os.ReadFile(cfg.VonagePrivateKeyPath)
		if err != nil {
			return nil, fmt.Errorf("VONAGE_PRIVATE_KEY_PATH: %w", err)
		}
		key, source = b, "VONAGE_PRIVATE_KEY_PATH"
	}
	auth, err := vonagev2.NewJWTAuth(cfg.VonageApplicationID, key, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return auth, nil
}

// v2DefaultChannelTimeout is Verify v2's channel_timeout when none is set.
const v2DefaultChannelTimeout = 180 * time.Second

// sandboxPinExpiry is how long a sandbox code lives: VERIFY_PIN_EXPIRY on v1; on v2, as at Vonage,
// until every channel of the workflow has had its channel timeout.
func sandboxPinExpiry(cfg config.Config) time.Duration {
	if cfg.VerifyAPI != config.APIv2 {
		return cfg.PinExpiry.Duration()
	}
	timeout := cfg.ChannelTimeout.Duration()
	if timeout == 0 {
		timeout = v2DefaultChannelTimeout
	}
	return timeout * time.Duration(len(cfg.Workflow))
}
