//! [`ConfigMap`]: a `v1` ConfigMap of string data.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Metadata, label_setter, namespace_setter, serialize_via_json};

/// A `v1` ConfigMap; see [`config_map`](super::config_map).
///
/// # Examples
///
/// ```
/// use autopilot_sdk::outputs;
///
/// let settings = outputs::config_map("web-rollout")
///     .data("weight", "20")
///     .data_from([("stable", "web-v1"), ("canary", "web-v2")]);
/// let json = serde_json::to_value(&settings).unwrap();
/// assert_eq!(json["data"]["canary"], "web-v2");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMap {
    metadata: Metadata,
    data: BTreeMap<String, String>,
}

namespace_setter!(ConfigMap, "config_map(\"settings\")");
label_setter!(ConfigMap, "config_map(\"settings\")");
serialize_via_json!(ConfigMap);

impl ConfigMap {
    pub(super) fn new(name: impl Into<String>) -> Self {
        Self {
            metadata: Metadata::new(name),
            data: BTreeMap::new(),
        }
    }

    /// Sets the entry `key` to `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = autopilot_sdk::outputs::config_map("settings").data("mode", "canary");
    /// assert_eq!(serde_json::to_value(&c).unwrap()["data"]["mode"], "canary");
    /// ```
    #[must_use]
    pub fn data(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.data.insert(key.into(), value.into());
        self
    }

    /// Sets every entry of `entries`.
    ///
    /// # Examples
    ///
    /// ```
    /// let c = autopilot_sdk::outputs::config_map("settings").data_from([("a", "1"), ("b", "2")]);
    /// assert_eq!(serde_json::to_value(&c).unwrap()["data"]["b"], "2");
    /// ```
    #[must_use]
    pub fn data_from<K: Into<String>, V: Into<String>>(
        mut self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.data
            .extend(entries.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    fn to_json(&self) -> Result<Value, String> {
        let mut object = Map::new();
        object.insert("apiVersion".into(), json!("v1"));
        object.insert("kind".into(), json!("ConfigMap"));
        object.insert("metadata".into(), self.metadata.to_json());
        if !self.data.is_empty() {
            object.insert("data".into(), json!(self.data));
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::super::config_map;
    use serde_json::json;

    #[test]
    fn produces_the_config_map_json() {
        let c = config_map("settings")
            .label("app", "web")
            .data("b", "2")
            .data("a", "1");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings", "labels": {"app": "web"}},
                "data": {"a": "1", "b": "2"},
            })
        );
        assert_eq!(
            serde_json::to_value(config_map("empty")).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "empty"}})
        );
    }
}
