//! YAML text to a serde type, through serde_json: the binary already carries serde_json,
//! and a YAML tree loader is a fraction of the size of a YAML serde deserializer (README,
//! size).

use serde::de::DeserializeOwned;

/// Reads the first YAML document of `text` as a `T`, like Go's `yaml.Unmarshal`; an empty
/// text is YAML `null`. The error is one line.
pub(super) fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let yaml = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| one_line(&e.to_string()))?;
    let json = match yaml.into_iter().next() {
        None => serde_json::Value::Null,
        Some(doc) => to_json(doc)?,
    };
    serde_json::from_value(json).map_err(|e| one_line(&e.to_string()))
}

/// A YAML node as the JSON value serde reads; mapping keys must be scalars.
fn to_json(node: yaml_rust2::Yaml) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    use yaml_rust2::Yaml;
    Ok(match node {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(r), Value::Number),
        Yaml::String(s) => Value::String(s),
        Yaml::Array(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Hash(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    other => return Err(format!("a mapping key must be a scalar, not {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Alias(_) | Yaml::BadValue => return Err("unresolvable YAML alias".into()),
    })
}

/// yaml_rust2's and serde's messages may span lines; a `Problem` is one line.
fn one_line(s: &str) -> String {
    s.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}
