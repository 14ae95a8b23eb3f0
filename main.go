// Command verify-proxy is the server a mobile app talks to instead of carrying a Vonage API key and
// secret: it starts, checks and cancels phone-number verifications through the Vonage Verify API,
// or through an embedded sandbox with no Vonage account. The program itself is internal/app.
package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"

	"github.com/verify-proxy/verify-proxy/internal/app"
)

// specYAML is the contract as written, served at /openapi.yaml. It is embedded here because
// //go:embed cannot reach a parent folder; api/ embeds its own normalised copy for validation.
//
//go:embed openapi.yaml
var specYAML []byte

// version is the build's version, stamped by scripts/build.sh (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	program := app.Program{Version: version, SpecYAML: specYAML}
	if err := program.Run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "verify-proxy:", err)
		os.Exit(1)
	}
}
