// Package api holds the code that oapi-codegen generates from openapi.yaml: the models, the Echo
// server interface, the strict server and the embedded spec. Only this file is written by hand.
package api

//go:generate go tool oapi-codegen -config ../oapi-codegen.yaml ../openapi.yaml
