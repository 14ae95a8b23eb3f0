package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/verify-proxy/verify-proxy"

// envReaders are the functions that read the process environment, by import path. caarlos0/env's
// parsers read it unless handed a map of their own.
var envReaders = map[string][]string{
	"os":                              {"Getenv", "LookupEnv", "Environ", "ExpandEnv"},
	"syscall":                         {"Getenv", "Environ"},
	"net/http":                        {"ProxyFromEnvironment"},
	"golang.org/x/net/http/httpproxy": {"FromEnvironment"},
	"github.com/caarlos0/env/v11":     {"Parse", "ParseAs", "ParseWithOptions", "ParseAsWithOptions", "GetFieldParams", "GetFieldParamsWithOptions"},
}

// throughConfig are the reads that are internal/config's own, or hand the environment to it; each is
// proven elsewhere to read only the variables that Variables lists (TestVariablesListsEverythingLoadReads).
var throughConfig = map[string]string{
	".: os.LookupEnv":               "main hands the process environment to the program, which reads it only through config.Load",
	"internal/config: os.LookupEnv": "WithDotEnv's lookup has os.LookupEnv's shape",
	"internal/config: github.com/caarlos0/env/v11.ParseWithOptions": "Load hands caarlos0/env the variables it read itself",
}

// TestTheBinaryReadsNoOtherEnvironment: every package the binary is built from (main and what it
// imports of this module) is scanned for a function that reads the environment. Each one found must
// be internal/config's, or listed in elsewhere and so named by the reference; an entry no longer
// found fails too, so that the lists and the scan stay honest.
func TestTheBinaryReadsNoOtherEnvironment(t *testing.T) {
	t.Parallel()
	found := map[string]bool{}
	packages := binaryPackages(t)
	for _, pkg := range []string{".", "internal/app", "internal/config", "internal/vonage/transport"} {
		if !slices.Contains(packages, pkg) {
			t.Fatalf("the scan never reached %s: it follows the imports from main.go; it reached %v", pkg, packages)
		}
	}
	for _, pkg := range packages {
		for _, read := range envReads(t, pkg) {
			found[read.key()] = true
			if _, ok := throughConfig[read.key()]; ok {
				continue
			}
			if !slices.ContainsFunc(elsewhere, func(e ReadElsewhere) bool { return e.Reader == read.symbol }) {
				t.Errorf("%s reads the environment (%s): read it through internal/config (a Config field), or "+
					"add what it reads to elsewhere in render.go so that the reference names it", read.at, read.symbol)
			}
		}
	}
	for key := range throughConfig {
		if !found[key] {
			t.Errorf("%q is no longer found: remove it from throughConfig", key)
		}
	}
	for _, e := range elsewhere {
		called := false
		for key := range found {
			called = called || strings.HasSuffix(key, ": "+e.Reader)
		}
		if !called {
			t.Errorf("nothing in the binary calls %s any more: remove it from elsewhere", e.Reader)
		}
	}
}

// envRead is one reference to an environment reader.
type envRead struct {
	pkg    string // the package's folder from the module root, "." for main
	symbol string // import path and name, e.g. os.Getenv
	at     string // file:line
}

func (r envRead) key() string { return r.pkg + ": " + r.symbol }

// binaryPackages follows the imports of main.go's package through the module, reading each
// package's non-test files, and returns every package reached by its folder from the module root.
func binaryPackages(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	queue := []string{"."}
	for len(queue) > 0 {
		pkg := queue[0]
		queue = queue[1:]
		if seen[pkg] {
			continue
		}
		seen[pkg] = true
		for _, f := range parseDir(t, pkg, parser.ImportsOnly) {
			for _, spec := range f.file.Imports {
				imp, _ := strconv.Unquote(spec.Path.Value)
				if own, ok := strings.CutPrefix(imp, module+"/"); ok {
					queue = append(queue, own)
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for pkg := range seen {
		out = append(out, pkg)
	}
	slices.Sort(out)
	return out
}

// envReads finds every reference (a call or a function value) to an envReaders function in pkg.
func envReads(t *testing.T, pkg string) []envRead {
	t.Helper()
	var reads []envRead
	for _, f := range parseDir(t, pkg, 0) {
		names := map[string]string{} // the name a file gives an import -> its path
		for _, spec := range f.file.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			if _, watched := envReaders[imp]; !watched {
				continue
			}
			name := packageName(imp)
			if spec.Name != nil {
				name = spec.Name.Name
			}
			if name == "." {
				t.Errorf("%s dot-imports %s, which hides its environment reads from this test", f.path, imp)
			}
			names[name] = imp
		}
		ast.Inspect(f.file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			imp, ok := names[id.Name]
			if !ok || !slices.Contains(envReaders[imp], sel.Sel.Name) {
				return true
			}
			reads = append(reads, envRead{
				pkg: pkg, symbol: imp + "." + sel.Sel.Name,
				at: f.path + ":" + strconv.Itoa(f.fset.Position(sel.Pos()).Line),
			})
			return true
		})
	}
	return reads
}

// packageName is the name an import path's package is known by, without a major version suffix.
func packageName(imp string) string {
	name := path.Base(imp)
	if len(name) > 1 && name[0] == 'v' && strings.Trim(name[1:], "0123456789") == "" {
		name = path.Base(path.Dir(imp))
	}
	return name
}

type parsedFile struct {
	path string
	fset *token.FileSet
	file *ast.File
}

// parseDir parses the non-test Go files of the package in folder pkg (from the module root).
func parseDir(t *testing.T, pkg string, mode parser.Mode) []parsedFile {
	t.Helper()
	dir := filepath.Join(root, filepath.FromSlash(pkg))
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("package %s: %v", pkg, err)
	}
	var files []parsedFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		fset := token.NewFileSet()
		p := filepath.Join(dir, e.Name())
		f, err := parser.ParseFile(fset, p, nil, mode)
		if err != nil {
			t.Fatal(err)
		}
		rel := path.Join(pkg, e.Name())
		files = append(files, parsedFile{path: rel, fset: fset, file: f})
	}
	return files
}
