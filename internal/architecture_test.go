// Package internal_test holds the one test of the tree's shape: which room may import which, as
// ARCHITECTURE.md draws it. A new package, or a new import across rooms, fails it until the table
// below (and ARCHITECTURE.md) say it belongs.
package internal_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/verify-proxy/verify-proxy/"

// mayImport lists, for each package of the module, the module's packages it may import. internal/app
// wires everything, so it may import every room.
var mayImport = map[string][]string{
	"api":                                 nil,
	"internal/apiclient":                  nil,
	"internal/app":                        {"*"},
	"internal/clocktest":                  nil,
	"internal/config":                     {"internal/guard", "internal/logging", "internal/phone", "internal/state", "internal/vonage/transport", "internal/vonage/verifyv2"},
	"internal/config/configdocs":          {"internal/config"}, // make docs: the reference and .env.example from Config
	"internal/fraudsim":                   {"internal/config", "internal/guard", "internal/phone", "internal/state", "internal/state/memstore", "internal/verify"},
	"internal/loadtest":                   nil, // it drives the built binary over HTTP; its test reads numbers with phone
	"internal/loadtest/floor":             nil,
	"internal/guard":                      {"internal/phone", "internal/state", "internal/verify"},
	"internal/logging":                    nil,
	"internal/logtest":                    {"internal/logging"},
	"internal/metrics":                    {"internal/verify"},
	"internal/metricstest":                nil,
	"internal/phone":                      nil,
	"internal/porttest":                   nil,
	"internal/server":                     {"api", "internal/guard", "internal/logging", "internal/metrics", "internal/phone", "internal/state", "internal/token", "internal/verify", "internal/verify/testnumbers"},
	"internal/state":                      nil,
	"internal/state/memstore":             {"internal/state"},
	"internal/state/redisstore":           {"internal/state"},
	"internal/state/redisstore/redistest": {"internal/porttest"},
	"internal/state/storetest":            {"internal/clocktest", "internal/state"},
	"internal/token":                      nil,
	"internal/token/tokentest":            nil,
	"internal/verify":                     nil,
	"internal/verify/sandbox":             {"internal/phone", "internal/verify"},
	"internal/verify/testnumbers":         {"internal/phone", "internal/state", "internal/verify"},
	"internal/vonage":                     {"internal/config", "internal/verify", "internal/vonage/transport", "internal/vonage/verifyv1", "internal/vonage/verifyv2"},
	"internal/vonage/conformance":         nil, // its test builds the clients from config and vonage; the package is the spec
	"internal/vonage/transport":           {"internal/verify"},
	"internal/vonage/verifyv1":            {"internal/verify", "internal/vonage/transport"},
	"internal/vonage/verifyv1/v1test":     {"internal/vonage/vonagetest"},
	"internal/vonage/verifyv2":            {"internal/phone", "internal/verify", "internal/vonage/transport"},
	"internal/vonage/verifyv2/v2test":     {"internal/vonage/vonagetest"},
	"internal/vonage/vonagetest":          nil,
	".":                                   {"internal/app"}, // main only starts the program
}

// onlyIn keeps a library to the room that owns it: HTTP routing and the contract's validation belong
// to the server (and the code generated for it), and validation against Vonage's specifications to
// vonage/conformance; phone numbers to phone, Redis to redisstore.
var onlyIn = map[string][]string{
	"github.com/labstack/echo/v4":         {"api", "internal/server"},
	"github.com/getkin/kin-openapi":       {"api", "internal/server", "internal/vonage/conformance"},
	"github.com/nyaruka/phonenumbers":     {"internal/phone"},
	"github.com/redis/go-redis/v9":        {"internal/state/redisstore"},
	"github.com/caarlos0/env/v11":         {"internal/config"},
	"github.com/tsenart/vegeta/v12":       {"internal/loadtest"},
	"github.com/prometheus/client_golang": {"internal/metrics"},
	"github.com/go-jose/go-jose/v4":       {"internal/token"},
}

func TestEachRoomImportsOnlyWhatARCHITECTUREmdSays(t *testing.T) {
	for pkg, imports := range packageImports(t) {
		allowed, known := mayImport[pkg]
		if !known {
			t.Errorf("%s is not in the table of rooms: add it here and to ARCHITECTURE.md", pkg)
			continue
		}
		for _, imp := range imports {
			if own, ok := strings.CutPrefix(imp, module); ok {
				if !slices.Contains(allowed, "*") && !slices.Contains(allowed, own) {
					t.Errorf("%s imports %s, which its room may not", pkg, own)
				}
				continue
			}
			for lib, rooms := range onlyIn {
				if (imp == lib || strings.HasPrefix(imp, lib+"/")) && !slices.Contains(rooms, pkg) {
					t.Errorf("%s imports %s, which belongs to %v", pkg, imp, rooms)
				}
			}
		}
	}
}

// packageImports reads the imports of every package's non-test files, by package folder relative to
// the module root.
func packageImports(t *testing.T) map[string][]string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "e2e" || d.Name() == "deploy") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		if _, seen := out[pkg]; !seen {
			out[pkg] = nil
		}
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			out[pkg] = append(out[pkg], imp)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
