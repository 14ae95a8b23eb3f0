// Command configdocs writes the configuration reference (docs/configuration.md) and .env.example
// from internal/config's Config: every variable, its default, its allowed values and its meaning
// come from the struct's tags, so that neither file can say what the code does not. `make docs`
// runs it from the repository's root; `make check-docs` and its test fail while either file is stale.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/verify-proxy/verify-proxy/internal/config"
)

func main() {
	referencePath := flag.String("reference", "docs/configuration.md", "where the configuration reference is written")
	examplePath := flag.String("example", ".env.example", "where the example .env is written")
	flag.Parse()
	sections := config.Sections()
	for path, content := range map[string][]byte{
		*referencePath: reference(sections),
		*examplePath:   envExample(sections),
	} {
		if err := write(path, content); err != nil {
			fmt.Fprintln(os.Stderr, "configdocs:", err)
			os.Exit(1)
		}
	}
}

func write(path string, content []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, content, 0o644)
}
