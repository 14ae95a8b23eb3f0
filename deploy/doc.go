// Package deploy holds what runs verify-proxy elsewhere: the sample Kubernetes manifest beside this
// file, the Grafana dashboard (grafana/) and the Prometheus rules and alerts (prometheus/), and tests
// that check them, compose.yaml and the Dockerfile against the real schemas (the Kubernetes API
// types, the Compose specification, Prometheus's own PromQL parser), against the metrics the server
// exports (prometheus/metrics.txt) and against each other. It is a module of its own so that those
// schemas never become dependencies of the server.
package deploy
