package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/joho/godotenv"
)

// WithDotEnv returns a lookup that reads the real environment first and then the .env file at
// path, as the original proxy's hosting did. A missing file is not an error; an unreadable one is.
func WithDotEnv(real LookupFunc, path string) (LookupFunc, error) {
	values, err := godotenv.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return real, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return func(key string) (string, bool) {
		if v, ok := real(key); ok {
			return v, true
		}
		v, ok := values[key]
		return v, ok
	}, nil
}

// OSLookup is the process environment.
var _ LookupFunc = os.LookupEnv
