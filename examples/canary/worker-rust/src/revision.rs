//! Revisions: a stable hash of a Deployment's pod template.
//!
//! The hash is FNV-1a (64 bit) over the template's canonical JSON (object keys sorted, no
//! whitespace), written as 16 lowercase hex digits, so a worker in any language computes the
//! same value (Python: `json.dumps(t, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`).
use serde_json::{Map, Value};

/// The revision of `deployment` (its `spec.template`), or `None` when it has no template.
pub fn of_deployment(deployment: &Value) -> Option<String> {
    deployment.pointer("/spec/template").map(of_template)
}

/// The revision of a pod template.
pub fn of_template(template: &Value) -> String {
    let text = serde_json::to_string(&canonical(template)).unwrap_or_default();
    format!("{:016x}", fnv1a64(text.as_bytes()))
}

fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), canonical(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter() {
        let a =
            json!({"spec": {"containers": [{"name": "app", "image": "web:1"}]}, "metadata": {}});
        let b =
            json!({"metadata": {}, "spec": {"containers": [{"image": "web:1", "name": "app"}]}});
        assert_eq!(of_template(&a), of_template(&b));
    }

    #[test]
    fn a_new_image_is_a_new_revision() {
        let a = json!({"spec": {"containers": [{"name": "app", "image": "web:1"}]}});
        let b = json!({"spec": {"containers": [{"name": "app", "image": "web:2"}]}});
        assert_ne!(of_template(&a), of_template(&b));
        assert_eq!(of_template(&a).len(), 16);
    }

    #[test]
    fn known_value_shared_with_other_languages() {
        // FNV-1a 64 of `{"a":1}`; the Python worker's test asserts the same digits.
        assert_eq!(
            of_template(&json!({"a": 1})),
            format!("{:016x}", fnv1a64(br#"{"a":1}"#))
        );
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
