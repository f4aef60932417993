//! The processes a control plane is made of.

use std::fmt;

/// One process of a control plane, named after its binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Component {
    /// `etcd`, the API server's storage. Always started.
    Etcd,
    /// `kube-apiserver`. Always started.
    ApiServer,
    /// `kube-controller-manager`, started by [`Builder::with_controller_manager`](crate::Builder::with_controller_manager).
    ControllerManager,
    /// `kube-scheduler`, started by [`Builder::with_scheduler`](crate::Builder::with_scheduler).
    Scheduler,
    /// `kwok`, simulating nodes and pods, started by [`Builder::with_kwok`](crate::Builder::with_kwok).
    Kwok,
}

impl Component {
    /// The binary's file name, which is also how logs and errors name the component.
    pub fn binary_name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::ApiServer => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
            Component::Kwok => "kwok",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.binary_name())
    }
}
