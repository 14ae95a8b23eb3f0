package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Variable is one environment variable the binary reads.
type Variable struct {
	Name     string // e.g. PORT
	Section  string // the Config section it belongs to, e.g. HTTP
	Default  string // the value when unset; "" when it has none
	Fallback string // the original Node proxy's name, read when Name is unset (API_KEY)
	refuse   string // refuseEmpty, refuseZero or ""
	field    string // the Go field, which caarlos0/env's errors name
}

// The values of the `refuse` tag.
const (
	refuseEmpty = "empty" // set but empty is a mistake
	refuseZero  = "zero"  // a typed 0 is a mistake: the zero value means "Vonage's default"
)

// Variables lists every variable the binary reads, section by section, in the order of Config.
func Variables() []Variable {
	vars, err := variables()
	if err != nil {
		panic(err) // Config's own tags are wrong; every test that loads a configuration says so
	}
	return vars
}

// variables reads Config's tags. Field names must be unique across sections: caarlos0/env's
// errors name the field alone.
func variables() ([]Variable, error) {
	var vars []Variable
	seen := map[string]bool{}
	top := reflect.TypeFor[Config]()
	for section := range top.Fields() {
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
			vars = append(vars, Variable{
				Name:     name,
				Section:  section.Name,
				Default:  f.Tag.Get("envDefault"),
				Fallback: fallbacks[name],
				refuse:   refuse,
				field:    f.Name,
			})
		}
	}
	return vars, nil
}
