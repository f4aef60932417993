//! The Autopilot project model: parse and validate autopilot.yaml and autopilot-operator.yaml
