// Package apiclient is the Go client that oapi-codegen generates from openapi.yaml. Only tests import
// it: they drive the server through it, so a contract change that breaks generated clients breaks
// the build. Only this file is written by hand.
package apiclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml ../../openapi.yaml
