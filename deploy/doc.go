// Package deploy holds what runs verify-proxy elsewhere: the sample Kubernetes manifest beside this
// file, and tests that check it, compose.yaml and the Dockerfile against the real schemas (the
// Kubernetes API types, the Compose specification) and against each other. It is a module of its own
// so that those schemas never become dependencies of the server.
package deploy
