//! The event receiver on a cluster, when `autopilot-operator.yaml` switches it on
//! (`receiver.addr`): its container port, a Service `<name>-events` in front of it, the Secret
//! `<name>-receiver` mounted where the receiver reads its tokens and signing secrets, and in the
//! chart an optional Ingress for senders outside the cluster (GitHub, a CI system).

use std::path::Path;

use super::{Flavor, Manifests};
use crate::yaml::Yaml;

impl Manifests<'_> {
    /// The receiver's port, when it is on.
    pub(super) fn receiver_port(&self) -> Option<Yaml> {
        let addr = self.model.operator.receiver.addr?;
        Some(
            Yaml::map()
                .with("name", "events")
                .with("containerPort", i64::from(addr.port())),
        )
    }

    /// `(volume, mount)` per directory holding a receiver secret file: the Secret
    /// `<name>-receiver` (optional, so the scheduler starts before it exists; keys named as the
    /// files), read-only at that directory.
    pub(super) fn receiver_volumes(&self) -> Vec<(Yaml, Yaml)> {
        let receiver = &self.model.operator.receiver;
        if receiver.addr.is_none() {
            return Vec::new();
        }
        let mut dirs: Vec<&Path> = receiver
            .cloudevents_token_file
            .iter()
            .chain(&receiver.github_secret_file)
            .chain(receiver.webhooks.values().map(|w| &w.secret_file))
            .filter_map(|file| file.parent())
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs.into_iter()
            .enumerate()
            .map(|(i, dir)| {
                let name = format!("receiver-{i}");
                let volume = Yaml::map().with("name", name.as_str()).with(
                    "secret",
                    Yaml::map()
                        .with("secretName", self.own_name("-receiver"))
                        .with("optional", true)
                        .with("defaultMode", 0o400_i64),
                );
                let mount = Yaml::map()
                    .with("name", name.as_str())
                    .with("mountPath", dir.to_string_lossy().into_owned())
                    .with("readOnly", true);
                (volume, mount)
            })
            .collect()
    }

    /// The Service in front of the receiver, when it is on.
    pub(super) fn receiver_service(&self) -> Option<Yaml> {
        self.model.operator.receiver.addr?;
        Some(self.scheduler_service("events", 80))
    }

    /// The chart's Ingress to the receiver's Service (behind `events.ingress.enabled`).
    pub(super) fn receiver_ingress(&self) -> Option<Yaml> {
        self.model.operator.receiver.addr?;
        debug_assert_eq!(self.flavor, Flavor::Chart);
        let backend = Yaml::map().with(
            "service",
            Yaml::map()
                .with("name", self.own_name("-events"))
                .with("port", Yaml::map().with("name", "events")),
        );
        Some(
            Yaml::map()
                .with("apiVersion", "networking.k8s.io/v1")
                .with("kind", "Ingress")
                .with(
                    "metadata",
                    self.metadata(self.own_name("-events"), "scheduler").with(
                        "annotations",
                        Yaml::With(".Values.events.ingress.annotations".to_owned()),
                    ),
                )
                .with(
                    "spec",
                    Yaml::map()
                        .with(
                            "ingressClassName",
                            Yaml::With(".Values.events.ingress.className".to_owned()),
                        )
                        .with("tls", Yaml::With(".Values.events.ingress.tls".to_owned()))
                        .with(
                            "rules",
                            Yaml::Seq(vec![
                                Yaml::map()
                                    .with(
                                        "host",
                                        Yaml::Raw(
                                            "{{ .Values.events.ingress.host | quote }}".to_owned(),
                                        ),
                                    )
                                    .with(
                                        "http",
                                        Yaml::map().with(
                                            "paths",
                                            Yaml::Seq(vec![
                                                Yaml::map()
                                                    .with("path", "/")
                                                    .with("pathType", "Prefix")
                                                    .with("backend", backend),
                                            ]),
                                        ),
                                    ),
                            ]),
                        ),
                ),
        )
    }
}
