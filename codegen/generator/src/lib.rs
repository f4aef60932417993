//! Renders CRDs, RBAC, manifests and worker projects from the Autopilot project model
