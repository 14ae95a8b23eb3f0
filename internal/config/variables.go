package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Variable is one environment variable the binary reads. The configuration reference
// (docs/configuration.md) and .env.example are generated from these, by `make docs`.
type Variable struct {
	Name     string // e.g. PORT
	Section  string // the Config section it belongs to, e.g. HTTP
	Default  string // the value when unset; "" when it has none
	Fallback string // the original Node proxy's name, read when Name is unset (API_KEY)
	Doc      string // what it means, in one line (the `doc` tag)
	Values   string // what it may be set to (the `values` tag)
	Secret   bool   // its value must never be shown, nor have an example (the `secret` tag)
	refuse   string // refuseEmpty, refuseZero or ""
	field    string // the Go field, which caarlos0/env's errors name
}

// Section is one of Config's sections, with its variables in field order.
type Section struct {
	Name      string // the Config field, e.g. HTTP
	Doc       string // what the section is for (the `doc` tag on Config's field)
	Variables []Variable
}

// The values of the `refuse` tag.
const (
	refuseEmpty = "empty" // set but empty is a mistake
	refuseZero  = "zero"  // a typed 0 is a mistake: the zero value means "Vonage's default"
)

// Variables lists every variable the binary reads, section by section, in the order of Config.
func Variables() []Variable {
	var vars []Variable
	for _, s := range Sections() {
		vars = append(vars, s.Variables...)
	}
	return vars
}

// Sections lists Config's sections in order, each with its variables.
func Sections() []Section {
	sections, err := sections()
	if err != nil {
		panic(err) // Config's own tags are wrong; every test that loads a configuration says so
	}
	return sections
}

// variables is Variables, with Config's tag mistakes as an error.
func variables() ([]Variable, error) {
	sections, err := sections()
	if err != nil {
		return nil, err
	}
	var vars []Variable
	for _, s := range sections {
		vars = append(vars, s.Variables...)
	}
	return vars, nil
}

// sections reads Config's tags. Field names must be unique across sections: caarlos0/env's errors
// name the field alone.
func sections() ([]Section, error) {
	var out []Section
	seen := map[string]bool{}
	top := reflect.TypeFor[Config]()
	for section := range top.Fields() {
		s := Section{Name: section.Name, Doc: section.Tag.Get("doc")}
		for f := range section.Type.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
			if name == "" {
				continue
			}
			refuse := f.Tag.Get("refuse")
			if refuse != "" && refuse != refuseEmpty && refuse != refuseZero {
				return nil, fmt.Errorf("config: field %s has refuse:%q", f.Name, refuse)
			}
			if seen[f.Name] {
				return nil, fmt.Errorf("config: field name %s is used in two sections", f.Name)
			}
			seen[f.Name] = true
			secret := f.Tag.Get("secret")
			if secret != "" && secret != "true" {
				return nil, fmt.Errorf("config: field %s has secret:%q; write secret:\"true\" or nothing", f.Name, secret)
			}
			v := Variable{
				Name:     name,
				Section:  section.Name,
				Default:  f.Tag.Get("envDefault"),
				Fallback: fallbacks[name],
				Doc:      f.Tag.Get("doc"),
				Values:   f.Tag.Get("values"),
				Secret:   secret == "true",
				refuse:   refuse,
				field:    f.Name,
			}
			if v.Secret && v.Default != "" {
				// A default secret would be one every installation shares.
				return nil, fmt.Errorf("config: %s is secret and has a default", name)
			}
			s.Variables = append(s.Variables, v)
		}
		out = append(out, s)
	}
	return out, nil
}
