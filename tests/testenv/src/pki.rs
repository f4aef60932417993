//! The control plane's keys and certificates: a CA, the API server's serving certificate, an admin
//! client certificate and the service-account signing key, written as PEM files.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::Error;

/// The admin user's name; its group `system:masters` gets every permission under RBAC.
pub(crate) const ADMIN_USER: &str = "autopilot-testenv-admin";
const ADMIN_GROUP: &str = "system:masters";

/// The first address of `--service-cluster-ip-range=10.0.0.0/24`: the `kubernetes` Service, which
/// in-cluster clients dial, so the serving certificate names it too.
const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// Paths of the PEM files written by [`Pki::generate`].
#[derive(Debug, Clone)]
pub(crate) struct Pki {
    pub(crate) ca_cert: PathBuf,
    pub(crate) serving_cert: PathBuf,
    pub(crate) serving_key: PathBuf,
    pub(crate) admin_cert: PathBuf,
    pub(crate) admin_key: PathBuf,
    pub(crate) service_account_key: PathBuf,
    pub(crate) service_account_pub: PathBuf,
}

impl Pki {
    /// Generates fresh keys (ECDSA P-256, fast to generate) and writes them into `dir`.
    pub(crate) fn generate(dir: &Path) -> Result<Self, Error> {
        let cert_error = |what| move |source| Error::Certificate { what, source };

        let ca_key = KeyPair::generate().map_err(cert_error("the CA key"))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())
            .map_err(cert_error("the CA certificate"))?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "autopilot-testenv-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(cert_error("the CA certificate"))?;
        let ca = Issuer::new(ca_params, ca_key);

        let serving_key = KeyPair::generate().map_err(cert_error("the serving key"))?;
        let mut serving = CertificateParams::new(vec![
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
            "kubernetes.default.svc.cluster.local".to_owned(),
        ])
        .map_err(cert_error("the serving certificate"))?;
        serving.subject_alt_names.extend([
            rcgen::SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            rcgen::SanType::IpAddress(IpAddr::V4(KUBERNETES_SERVICE_IP)),
        ]);
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving
            .signed_by(&serving_key, &ca)
            .map_err(cert_error("the serving certificate"))?;

        // The API server maps a client certificate's CN to the user and each O to a group.
        let admin_key = KeyPair::generate().map_err(cert_error("the admin client key"))?;
        let mut admin = CertificateParams::new(Vec::<String>::new())
            .map_err(cert_error("the admin client certificate"))?;
        admin.distinguished_name = rcgen::DistinguishedName::new();
        admin
            .distinguished_name
            .push(DnType::CommonName, ADMIN_USER);
        admin
            .distinguished_name
            .push(DnType::OrganizationName, ADMIN_GROUP);
        admin.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin
            .signed_by(&admin_key, &ca)
            .map_err(cert_error("the admin client certificate"))?;

        let service_account =
            KeyPair::generate().map_err(cert_error("the service-account signing key"))?;

        let pki = Self {
            ca_cert: dir.join("ca.crt"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
            service_account_key: dir.join("service-account.key"),
            service_account_pub: dir.join("service-account.pub"),
        };
        for (path, pem) in [
            (&pki.ca_cert, ca_cert.pem()),
            (&pki.serving_cert, serving_cert.pem()),
            (&pki.serving_key, serving_key.serialize_pem()),
            (&pki.admin_cert, admin_cert.pem()),
            (&pki.admin_key, admin_key.serialize_pem()),
            (&pki.service_account_key, service_account.serialize_pem()),
            (&pki.service_account_pub, service_account.public_key_pem()),
        ] {
            std::fs::write(path, pem).map_err(Error::filesystem("writing", path))?;
        }
        Ok(pki)
    }
}
