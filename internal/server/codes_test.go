package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/verify-proxy/verify-proxy/api"
)

// TestEveryErrorCodeIsAnsweredAndDocumented: the catalogue in codes.go, every code the code declares
// (verify.Kind, guard.Kind and the server's own) and the list in openapi.yaml's ErrorBody schema are one
// set, so that an app developer reading the contract can switch on every code the server sends.
func TestEveryErrorCodeIsAnsweredAndDocumented(t *testing.T) {
	t.Parallel()
	var catalogue []string
	for code := range answers {
		catalogue = append(catalogue, code)
	}
	slices.Sort(catalogue)

	declared := append(append(kindConstants(t, "../verify"), kindConstants(t, "../guard")...), serverCodes(t)...)
	slices.Sort(declared)
	if !slices.Equal(declared, catalogue) {
		t.Errorf("declared codes and the catalogue differ:\ndeclared  %v\ncatalogue %v", declared, catalogue)
	}

	documented := contractCodes(t)
	if !slices.Equal(documented, catalogue) {
		t.Errorf("openapi.yaml's Error list and the catalogue differ:\nopenapi.yaml %v\ncatalogue    %v", documented, catalogue)
	}
}

// kindConstants are the values of the constants of type Kind declared in the package at dir.
func kindConstants(t *testing.T, dir string) []string {
	t.Helper()
	return constants(t, dir, func(name string, typ ast.Expr) bool {
		id, ok := typ.(*ast.Ident)
		return ok && id.Name == "Kind"
	})
}

// serverCodes are this package's own code* constants.
func serverCodes(t *testing.T) []string {
	t.Helper()
	return constants(t, ".", func(name string, _ ast.Expr) bool { return strings.HasPrefix(name, "code") })
}

func constants(t *testing.T, dir string, want func(name string, typ ast.Expr) bool) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					lit, isString := valueAt(vs, i).(*ast.BasicLit)
					if !want(name.Name, vs.Type) || !isString || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, v)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no codes declared in %s", dir)
	}
	return out
}

func valueAt(vs *ast.ValueSpec, i int) ast.Expr {
	if i < len(vs.Values) {
		return vs.Values[i]
	}
	return nil
}

// contractCodes are the codes the ErrorBody schema's description lists: the `code`s before the colon of
// each item.
func contractCodes(t *testing.T) []string {
	t.Helper()
	spec, err := api.GetSpec()
	if err != nil {
		t.Fatal(err)
	}
	item := regexp.MustCompile("(?m)^- ((?:`[a-z_]+`(?:, )?)+):")
	code := regexp.MustCompile("`([a-z_]+)`")
	var out []string
	for _, m := range item.FindAllStringSubmatch(spec.Components.Schemas["ErrorBody"].Value.Description, -1) {
		for _, c := range code.FindAllStringSubmatch(m[1], -1) {
			out = append(out, c[1])
		}
	}
	slices.Sort(out)
	return out
}
